/*
 * main.c - ws-gateway: the gateway role's program (docs/gateway.md).
 *   ws-gateway [--config FILE] wake USER NAME   (the hook library runs it)
 *   ws-gateway [--config FILE] control          (the server's forced command)
 *   ws-gateway [--config FILE] keeper           (idle stop; the listener runs it)
 * The config is the server's hook config (role = gateway); without
 * --config it comes from WS_GATEWAY_CONFIG, which the library sets for
 * sessions.
 */
#include "gw.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int usage(void) {
	fprintf(stderr, "usage: ws-gateway [--config FILE] wake USER NAME | control | keeper\n");
	return 2;
}

/* "USER@HOST" for messages that tell a user what to type, from
 * gateway_host: "gw.example.com:2200" or "[::1]:2200" become
 * "-p 2200 USER@HOST" (ssh takes no port after the host; ProxyJump does). */
const char *gw_ssh_to(const struct gw *g, const char *user) {
	static char out[600];
	const char *colon = strrchr(g->host, ':');
	const char *host = g->host;
	size_t hostlen = strlen(host);

	if (colon != NULL && (host[0] == '[' ? colon > host && colon[-1] == ']'
			: strchr(host, ':') == colon)) {
		hostlen = (size_t)(colon - host);
		if (host[0] == '[') {
			host++;
			hostlen -= 2;
		}
		snprintf(out, sizeof(out), "-p %s %s@%.*s", colon + 1, user, (int)hostlen, host);
	} else {
		snprintf(out, sizeof(out), "%s@%s", user, host);
	}
	return out;
}

/* A control session's stderr is the client's: with event_log = stderr its
 * events go to the server's stderr, which the library hands down at
 * WS_GATEWAY_LOG_FD (plugins/gateway_hooks.c), or nowhere. */
static void control_log(struct gw *g) {
	const char *v = getenv(WS_GW_ENV_LOG_FD);
	char *end;
	long fd;

	if (g->cfg.event_log != WS_EVENT_LOG_STDERR) {
		return;
	}
	g->log.fd = -1;
	if (v == NULL) {
		return;
	}
	fd = strtol(v, &end, 10);
	if (*end != '\0' || fd < WS_GW_LOG_FD_MIN || fd > INT_MAX
			|| fcntl((int)fd, F_SETFD, FD_CLOEXEC) != 0) {
		return;
	}
	g->log.fd = (int)fd;
}

int main(int argc, char **argv) {
	struct gw g;
	char err[600];
	int i = 1, ret;

	memset(&g, 0, sizeof(g));
	g.log.fd = -1;
	if (argc > 2 && strcmp(argv[1], "--config") == 0) {
		g.config_path = argv[2];
		i = 3;
	} else {
		g.config_path = getenv(WS_GW_ENV_CONFIG);
	}
	if (i >= argc) {
		return usage();
	}
	if (g.config_path == NULL) {
		fprintf(stderr, "ws-gateway: no config (--config FILE or %s)\n", WS_GW_ENV_CONFIG);
		return 2;
	}
	/* a client that goes away must not kill a wake half-way */
	signal(SIGPIPE, SIG_IGN);
	ws_config_init(&g.cfg);
	if (ws_config_load(&g.cfg, g.config_path, err, sizeof(err)) != 0) {
		fprintf(stderr, "ws-gateway: %s\n", err);
		return 2;
	}
	if (!g.cfg.gateway.enabled) {
		fprintf(stderr, "ws-gateway: %s: not role = gateway\n", g.config_path);
		ws_config_free(&g.cfg);
		return 2;
	}
	if (ws_eventlog_open(&g.log, &g.cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "ws-gateway: %s\n", err);
		ws_config_free(&g.cfg);
		return 2;
	}
	if (argc == i + 1 && strcmp(argv[i], "control") == 0) {
		control_log(&g);
	}
	if (g.cfg.gateway.host != NULL) {
		snprintf(g.host, sizeof(g.host), "%s", g.cfg.gateway.host);
	} else if (gethostname(g.host, sizeof(g.host) - 1) != 0) {
		snprintf(g.host, sizeof(g.host), "gateway");
	}
	if (strcmp(argv[i], "wake") == 0 && argc == i + 3) {
		ret = gw_wake_main(&g, argv[i + 1], argv[i + 2]);
	} else if (strcmp(argv[i], "control") == 0 && argc == i + 1) {
		ret = gw_control_main(&g);
	} else if (strcmp(argv[i], "keeper") == 0 && argc == i + 1) {
		ret = gw_keeper_main(&g);
	} else {
		ret = usage();
	}
	ws_eventlog_close(&g.log);
	ws_config_free(&g.cfg);
	return ret;
}
