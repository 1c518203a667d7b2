/*
 * gateway_keys.c - who the gateway's users are and their keys: a file per
 * user in gateway_users_dir (a Kubernetes Secret's layout, re-read at each
 * login) or the output of gateway_keys_command.  A source that another uid
 * could change is refused (envtrust.c's rule): it decides who logs in.
 */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include "gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envsources.h"

/* Does the line carry a key: a key type token, after any options?  Checks
 * only the shape; the server parses the line itself. */
static int has_key_type(const char *line, size_t n) {
	static const char *const types[] = { "ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-" };
	size_t i, t;
	for (i = 0; i < n; i++) {
		if (i > 0 && line[i - 1] != ' ' && line[i - 1] != '\t' && line[i - 1] != ',') {
			continue;
		}
		for (t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
			size_t tl = strlen(types[t]);
			if (n - i > tl && strncmp(line + i, types[t], tl) == 0) {
				return 1;
			}
		}
	}
	return 0;
}

int ws_gw_keys_text_ok(const char *text, size_t len, char *why, size_t whylen) {
	const char *p = text, *end = text + len;
	unsigned int lineno = 0;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((eol ? eol : end) - p), i, skip;
		lineno++;
		for (i = 0; i < n; i++) {
			unsigned char c = (unsigned char)p[i];
			if ((c < 0x20 && c != '\t' && !(c == '\r' && i + 1 == n)) || c == 0x7f) {
				snprintf(why, whylen, "line %u: control character", lineno);
				return -1;
			}
		}
		skip = strspn(p, " \t");
		if (skip < n && p[skip] != '#' && p[skip] != '\r' && !has_key_type(p, n)) {
			snprintf(why, whylen, "line %u: not an authorized_keys line", lineno);
			return -1;
		}
		p = eol ? eol + 1 : end;
	}
	return 0;
}

static int keys_from_dir(const struct ws_config *cfg, const char *user, char **keys,
		size_t *len, char *why, size_t whylen) {
	char path[4200];
	int ret;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", cfg->gateway.users_dir, user)
			>= sizeof(path)) {
		snprintf(why, whylen, "gateway_users_dir: path too long");
		return -1;
	}
	ret = ws_gw_read_trusted(path, WS_GW_KEYS_MAX, keys, len, why, whylen);
	if (ret == 1) {
		return 0;
	}
	return ret == 0 ? 1 : -1;
}

static int keys_from_command(const struct ws_config *cfg, const char *user, char **keys,
		size_t *len, char *why, size_t whylen) {
	char *argv[] = { cfg->gateway.keys_command, (char *)user, NULL };
	struct ws_gw_result r;
	char err[512];

	if (ws_trust_path(cfg->gateway.keys_command, err, sizeof(err)) != 0) {
		snprintf(why, whylen, "gateway_keys_command %s", err);
		return -1;
	}
	if (ws_gw_run(argv, NULL, WS_GW_KEYS_TIMEOUT_MS, WS_GW_KEYS_MAX, &r) != 0) {
		snprintf(why, whylen, "gateway_keys_command: %s", r.err);
		ws_gw_result_free(&r);
		return -1;
	}
	if (r.status == 1) {
		ws_gw_result_free(&r);
		return 0;
	}
	if (r.status < 0) {
		snprintf(why, whylen, "gateway_keys_command: %s", r.err);
	} else if (r.status != 0) {
		snprintf(why, whylen, "gateway_keys_command: exit status %d%s%s", r.status,
			r.err[0] ? ": " : "", r.err);
	}
	if (r.status != 0) {
		ws_gw_result_free(&r);
		return -1;
	}
	*keys = r.out;
	*len = r.outlen;
	return 1;
}

/* GET /v1/keys?user=USER from the HTTP server on gateway_keys_socket (the
 * shape of the env_socket source): 200 with the lines as the body = known,
 * 404 = unknown, anything else = refused.  USER is [a-z0-9]: nothing to
 * encode. */
static int keys_from_socket(const struct ws_config *cfg, const char *user, char **keys,
		size_t *len, char *why, size_t whylen) {
	char path[64 + WS_GW_NAME_MAX], err[256];
	char *resp = NULL;
	const char *body;
	size_t rlen = 0, blen;
	int status, ret = -1;

	snprintf(path, sizeof(path), "/v1/keys?user=%s", user);
	if (ws_http_get_unix(cfg->gateway.keys_socket, path, "text/plain", WS_GW_KEYS_TIMEOUT_MS,
			WS_GW_KEYS_MAX, &resp, &rlen, err, sizeof(err)) != 0) {
		snprintf(why, whylen, "gateway_keys_socket %s", err);
	} else if ((status = ws_http_status(resp, rlen)) == 404) {
		ret = 0;
	} else if (ws_http_body(resp, rlen, &body, &blen, err, sizeof(err)) != 0) {
		snprintf(why, whylen, "gateway_keys_socket %s: %s", cfg->gateway.keys_socket, err);
	} else if (blen > WS_GW_KEYS_MAX || (*keys = malloc(blen + 1)) == NULL) {
		snprintf(why, whylen, "gateway_keys_socket %s: more than %d bytes of keys",
			cfg->gateway.keys_socket, WS_GW_KEYS_MAX);
	} else {
		memcpy(*keys, body, blen);
		(*keys)[blen] = '\0';
		*len = blen;
		ret = 1;
	}
	ws_free_secret(resp, rlen);
	return ret;
}

int ws_gw_user_keys(const struct ws_config *cfg, const char *user, char **keys, size_t *len,
		char *why, size_t whylen) {
	int ret;

	*keys = NULL;
	*len = 0;
	if (!ws_gw_user_valid(user)) {
		return 0; /* never a path or an argument, nor a '-' name: unknown */
	}
	if (cfg->gateway.keys_command != NULL) {
		ret = keys_from_command(cfg, user, keys, len, why, whylen);
	} else if (cfg->gateway.keys_socket != NULL) {
		ret = keys_from_socket(cfg, user, keys, len, why, whylen);
	} else if (cfg->gateway.users_dir != NULL) {
		ret = keys_from_dir(cfg, user, keys, len, why, whylen);
	} else {
		return 0;
	}
	if (ret == 1 && ws_gw_keys_text_ok(*keys, *len, why, whylen) != 0) {
		explicit_bzero(*keys, *len);
		free(*keys);
		*keys = NULL;
		*len = 0;
		return -1;
	}
	return ret;
}
