/*
 * backend.c - the backend command protocol (docs/gateway.md): argv in,
 * stdout and exit status out, every call bounded in time and size.  What
 * a backend prints is parsed strictly: a garbled answer is an error, never
 * an address to connect to.
 */
#include "gw.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a failed backend said (its stderr may name socket URLs, paths,
 * the engine's internals) is for the operator: the event log gets it
 * whole, the user a detail that says where to look. */
static void failed(struct gw *g, char *const args[], const char *why, char *detail,
		size_t dlen) {
	char text[600];
	int named = strcmp(args[0], "list") != 0 && args[1] != NULL;

	snprintf(text, sizeof(text), "backend %s: %s", args[0], why[0] ? why : "failed");
	gw_event(g, "gateway_problem", NULL, named ? args[1] : NULL, "reason", text, NULL, 0);
	snprintf(detail, dlen, "the backend failed (see the gateway log)");
}

static int call(struct gw *g, char *const args[], unsigned int timeout_ms, size_t outmax,
		struct ws_gw_result *r, char *detail, size_t dlen) {
	char *argv[8], env[4200];
	size_t i;

	argv[0] = g->cfg.gateway.backend;
	for (i = 0; args[i] != NULL && i + 2 < sizeof(argv) / sizeof(argv[0]); i++) {
		argv[i + 1] = args[i];
	}
	argv[i + 1] = NULL;
	snprintf(env, sizeof(env), "WS_GATEWAY_STATE=%s", g->cfg.gateway.state_dir);
	if (ws_gw_run(argv, env, timeout_ms, outmax, r) != 0) {
		failed(g, args, r->err, detail, dlen);
		ws_gw_result_free(r);
		return -1;
	}
	if (r->status != 0) {
		char why[400];
		if (r->status > 0) {
			snprintf(why, sizeof(why), "exit status %d%s%s", r->status,
				r->err[0] ? ": " : "", r->err);
		} else {
			snprintf(why, sizeof(why), "%s", r->err);
		}
		failed(g, args, why, detail, dlen);
		if (r->timed_out) {
			snprintf(detail, dlen, "the backend timed out");
		}
		ws_gw_result_free(r);
		return -1;
	}
	return 0;
}

static unsigned int long_ms(struct gw *g) {
	return g->cfg.gateway.wake_timeout * 1000u;
}

/* One line, trailing newline optional. */
static int one_line(const char *out, size_t len, char *line, size_t linelen) {
	const char *nl = memchr(out, '\n', len);
	size_t n = nl ? (size_t)(nl - out) : len;
	if ((nl != NULL && nl + 1 != out + len) || n >= linelen || memchr(out, '\0', n)) {
		return -1;
	}
	memcpy(line, out, n);
	line[n] = '\0';
	return 0;
}

/* An address the gateway will connect to: IPv4/IPv6 literal or a host
 * name, nothing else (no spaces, no options). */
static int address_ok(const char *a) {
	size_t n = strlen(a);
	if (n == 0 || n > 253) {
		return 0;
	}
	return strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:") == n
		&& a[0] != '-';
}

int gw_backend_status(struct gw *g, const char *name, enum gw_state *state,
		char *addr, size_t addrlen, unsigned int *port, char *detail, size_t dlen) {
	char *args[] = { "status", (char *)name, NULL };
	struct ws_gw_result r;
	char line[512], a[300], extra[2], again[512];
	unsigned int p;

	if (call(g, args, GW_CALL_TIMEOUT_MS, GW_OUT_MAX, &r, detail, dlen) != 0) {
		return -1;
	}
	if (one_line(r.out, r.outlen, line, sizeof(line)) != 0) {
		goto garbage;
	}
	if (strcmp(line, "stopped") == 0) {
		*state = GW_STOPPED;
	} else if (strcmp(line, "missing") == 0) {
		*state = GW_MISSING;
	} else if (sscanf(line, "running %299s %u %1s", a, &p, extra) == 2 && address_ok(a)
			&& p > 0 && p < 65536 && strlen(a) < addrlen
			&& snprintf(again, sizeof(again), "running %s %u", a, p) > 0
			&& strcmp(again, line) == 0) {
		*state = GW_RUNNING;
		strcpy(addr, a);
		*port = p;
	} else {
		goto garbage;
	}
	ws_gw_result_free(&r);
	return 0;
garbage:
	snprintf(detail, dlen, "the backend's status answer is not understood");
	ws_gw_result_free(&r);
	return -1;
}

int gw_backend_do(struct gw *g, const char *verb, const char *name, char *detail, size_t dlen) {
	char *args[] = { (char *)verb, (char *)name, NULL };
	struct ws_gw_result r;
	int start = strcmp(verb, "start") == 0;

	if (call(g, args, start ? long_ms(g) : GW_CALL_TIMEOUT_MS, GW_OUT_MAX, &r,
			detail, dlen) != 0) {
		return -1;
	}
	ws_gw_result_free(&r);
	return 0;
}

int gw_backend_create(struct gw *g, const char *name, const char *keys_file,
		const char *hostkey_file, char *detail, size_t dlen) {
	char *args[] = { "create", (char *)name, (char *)keys_file, (char *)hostkey_file, NULL };
	struct ws_gw_result r;

	if (call(g, args, long_ms(g), GW_OUT_MAX, &r, detail, dlen) != 0) {
		return -1;
	}
	ws_gw_result_free(&r);
	return 0;
}

int gw_backend_list(struct gw *g, void (*fn)(void *arg, const char *name, const char *state),
		void *arg, char *detail, size_t dlen) {
	char *args[] = { "list", NULL };
	struct ws_gw_result r;
	char *line, *save = NULL;

	if (call(g, args, GW_CALL_TIMEOUT_MS, GW_LIST_MAX, &r, detail, dlen) != 0) {
		return -1;
	}
	if (memchr(r.out, '\0', r.outlen) != NULL) {
		snprintf(detail, dlen, "the backend's list is not understood");
		ws_gw_result_free(&r);
		return -1;
	}
	for (line = strtok_r(r.out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char name[WS_GW_NAME_MAX + 2], state[16], extra[2];
		if (sscanf(line, "%64s %15s %1s", name, state, extra) == 2 && ws_gw_name_valid(name)
				&& (strcmp(state, "running") == 0 || strcmp(state, "stopped") == 0)) {
			fn(arg, name, state);
		}
	}
	ws_gw_result_free(&r);
	return 0;
}

int gw_backend_activity(struct gw *g, const char *name, int64_t *ms, char *detail, size_t dlen) {
	char *args[] = { "activity", (char *)name, NULL };
	struct ws_gw_result r;
	char line[64], *end;
	long long v;

	if (call(g, args, GW_CALL_TIMEOUT_MS, GW_OUT_MAX, &r, detail, dlen) != 0) {
		return -1;
	}
	errno = 0;
	if (one_line(r.out, r.outlen, line, sizeof(line)) != 0 || line[0] < '0' || line[0] > '9'
			|| (v = strtoll(line, &end, 10), errno != 0 || *end != '\0')) {
		snprintf(detail, dlen, "the backend's activity answer is not understood");
		ws_gw_result_free(&r);
		return -1;
	}
	*ms = v;
	ws_gw_result_free(&r);
	return 0;
}
