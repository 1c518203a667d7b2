/*
 * gateway_config.c - the gateway role's config keys (the rows are in
 * config.c's table; docs/gateway.md lists them).  Values are checked as
 * strictly as the rest of the file: a gateway decides who reaches which
 * machine, so a typo must stop startup, not change the meaning.
 */
#include "gateway.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef WS_GATEWAY_DEFAULT_PROGRAM
#define WS_GATEWAY_DEFAULT_PROGRAM "/usr/bin/ws-gateway"
#endif

int ws_gw_set_role(struct ws_config *cfg, const char *value, char *why, size_t whylen) {
	if (strcmp(value, "workspace") == 0 || strcmp(value, "gateway") == 0) {
		cfg->gateway.enabled = value[0] == 'g';
		return 0;
	}
	snprintf(why, whylen, "expected workspace or gateway");
	return -1;
}

/* ".ws", ".dev.example": a dot, then DNS labels; what ws_gw_parse_host
 * strips from a destination. */
int ws_gw_set_suffix(struct ws_config *cfg, const char *value, char *why, size_t whylen) {
	char label[WS_GW_NAME_MAX + 2];
	const char *p = value, *dot;

	if (value[0] != '.' || strlen(value) > 200) {
		snprintf(why, whylen, "expected a dot and a domain name, such as .ws");
		return -1;
	}
	while (*p == '.') {
		size_t n;
		p++;
		dot = strchr(p, '.');
		n = dot ? (size_t)(dot - p) : strlen(p);
		if (n == 0 || n > WS_GW_NAME_MAX) {
			snprintf(why, whylen, "expected a dot and a domain name, such as .ws");
			return -1;
		}
		memcpy(label, p, n);
		label[n] = '\0';
		if (!ws_gw_name_valid(label)) {
			snprintf(why, whylen, "'%s' is not a lower-case DNS label", label);
			return -1;
		}
		p += n;
	}
	return ws_config_set_string(&cfg->gateway.suffix, value, why, whylen);
}

static int path_or_off(char **slot, const char *value, char *why, size_t whylen) {
	if (strcmp(value, "off") == 0) {
		free(*slot);
		*slot = NULL;
		return 0;
	}
	if (value[0] != '/') {
		snprintf(why, whylen, "expected off or an absolute path");
		return -1;
	}
	return ws_config_set_string(slot, value, why, whylen);
}

int ws_gw_set_grants(struct ws_config *cfg, const char *value, char *why, size_t whylen) {
	return path_or_off(&cfg->gateway.grants, value, why, whylen);
}

int ws_gw_set_user_limits(struct ws_config *cfg, const char *value, char *why, size_t whylen) {
	return path_or_off(&cfg->gateway.user_limits, value, why, whylen);
}

/* yes/no and their synonyms, or own: only the workspace named exactly as
 * its user (each user's first, made on first use; the rest stay the
 * operator's or nobody's) */
int ws_gw_parse_create(const char *value, int *mode) {
	static const char *const words[][2] = { { "own", "2" }, { "yes", "1" }, { "on", "1" },
		{ "true", "1" }, { "1", "1" }, { "no", "0" }, { "off", "0" }, { "false", "0" },
		{ "0", "0" } };
	size_t i;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strcmp(value, words[i][0]) == 0) {
			*mode = words[i][1][0] - '0';
			return 0;
		}
	}
	return -1;
}

int ws_gw_set_create(struct ws_config *cfg, const char *value, char *why, size_t whylen) {
	if (ws_gw_parse_create(value, &cfg->gateway.create) != 0) {
		snprintf(why, whylen, "expected yes, no or own");
		return -1;
	}
	return 0;
}

int ws_gw_set_keys_command(struct ws_config *cfg, const char *value, char *why, size_t whylen) {
	return path_or_off(&cfg->gateway.keys_command, value, why, whylen);
}

/* Seconds: "90", "90s", "30m", "2h". */
static const struct ws_config_unit second_units[] = {
	{ "", 1 }, { "s", 1 }, { "m", 60 }, { "h", 3600 }, { NULL, 0 } };

static int set_seconds(unsigned int *slot, const char *value, unsigned long min,
		unsigned long max, char *why, size_t whylen) {
	unsigned long n;
	if (ws_config_parse_scaled(value, second_units, &n) != 0) {
		snprintf(why, whylen, "expected seconds, such as 90, 90s, 30m or 2h");
		return -1;
	}
	if (n < min || n > max) {
		snprintf(why, whylen, "%lu is out of range (%lu to %lu seconds)", n, min, max);
		return -1;
	}
	*slot = (unsigned int)n;
	return 0;
}

int ws_gw_set_idle_stop(struct ws_config *cfg, const char *value, char *why, size_t whylen) {
	if (strcmp(value, "off") == 0) {
		cfg->gateway.idle_stop = 0;
		return 0;
	}
	return set_seconds(&cfg->gateway.idle_stop, value, 10, 7 * 24 * 3600, why, whylen);
}

int ws_gw_set_wake_timeout(struct ws_config *cfg, const char *value, char *why, size_t whylen) {
	return set_seconds(&cfg->gateway.wake_timeout, value, 1, 3600, why, whylen);
}

/* What users put after "ProxyJump USER@": a host name or address, maybe
 * with :PORT; nothing a shell or ssh_config would read differently. */
int ws_gw_set_host(struct ws_config *cfg, const char *value, char *why, size_t whylen) {
	const char *p;
	if (strlen(value) > 255) {
		snprintf(why, whylen, "longer than 255 bytes");
		return -1;
	}
	for (p = value; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && strchr(".-:[]", *p) == NULL) {
			snprintf(why, whylen, "'%c' cannot be part of a host name", *p);
			return -1;
		}
	}
	return ws_config_set_string(&cfg->gateway.host, value, why, whylen);
}

/* The workspaces' user, for `User` in the client config `config` prints:
 * a portable user name, as the image's entrypoint takes one. */
int ws_gw_set_workspace_user(struct ws_config *cfg, const char *value, char *why,
		size_t whylen) {
	size_t n = strlen(value);
	if (n == 0 || n > 32 || !((value[0] >= 'a' && value[0] <= 'z') || value[0] == '_')
			|| strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n) {
		snprintf(why, whylen, "expected a user name: a-z or _, then a-z, 0-9, _ or -, "
			"at most 32");
		return -1;
	}
	return ws_config_set_string(&cfg->gateway.workspace_user, value, why, whylen);
}

const char *ws_gw_workspace_user(const struct ws_config *cfg) {
	return cfg->gateway.workspace_user ? cfg->gateway.workspace_user : "developer";
}

int ws_gw_config_check(const struct ws_config *cfg, char *why, size_t whylen) {
	const struct ws_gateway_config *g = &cfg->gateway;

	if (!g->enabled) {
		/* a gateway key in a workspace's config is a mistake worth
		 * hearing about: the author meant a gateway */
		if (g->users_dir || g->keys_command || g->keys_socket || g->suffix || g->grants || g->backend
				|| g->state_dir || g->program || g->host || g->create || g->user_limits || g->workspace_user
				|| g->idle_stop || g->max_per_user != 5 || g->wake_timeout != 120) {
			snprintf(why, whylen, "gateway_* keys need role = gateway");
			return -1;
		}
		return 0;
	}
	if ((g->users_dir != NULL) + (g->keys_command != NULL) + (g->keys_socket != NULL) != 1) {
		snprintf(why, whylen, "role = gateway needs one of gateway_users_dir, "
			"gateway_keys_command and gateway_keys_socket");
		return -1;
	}
	if (g->backend == NULL || g->state_dir == NULL) {
		snprintf(why, whylen, "role = gateway needs gateway_backend and gateway_state_dir");
		return -1;
	}
	return 0;
}

void ws_gw_config_free(struct ws_config *cfg) {
	/* the KEY_PATH ones are config.c's to free */
	free(cfg->gateway.keys_command);
	free(cfg->gateway.suffix);
	free(cfg->gateway.grants);
	free(cfg->gateway.host);
	free(cfg->gateway.user_limits);
	free(cfg->gateway.workspace_user);
	cfg->gateway.keys_command = cfg->gateway.suffix = NULL;
	cfg->gateway.grants = cfg->gateway.host = cfg->gateway.user_limits = NULL;
	cfg->gateway.workspace_user = NULL;
}

const char *ws_gw_program(const struct ws_config *cfg) {
	return cfg->gateway.program ? cfg->gateway.program : WS_GATEWAY_DEFAULT_PROGRAM;
}
