/*
 * envfetch.c - the per-user environment: runs the configured sources in
 * their fixed order (directory, dotenv file, helper command, socket
 * endpoint; later wins), hands the result to the server, and decides which
 * client "env" requests to accept.
 */
#include <stdio.h>
#include <string.h>

#include "envsources.h"
#include "plugin.h"

typedef int (*source_fn)(const struct ws_env_config *cfg, const struct ws_env_request *req,
	struct ws_envlist *list, char *err, size_t errlen);

/* The documented order; docs/environment.md lists it the same way. */
static const struct {
	const char *name;
	source_fn run;
	size_t setting; /* the char * in ws_env_config that switches it on */
} sources[] = {
	{ "dir", ws_envsrc_dir, offsetof(struct ws_env_config, dir) },
	{ "file", ws_envsrc_file, offsetof(struct ws_env_config, file) },
	{ "command", ws_envsrc_command, offsetof(struct ws_env_config, command) },
	{ "socket", ws_envsrc_socket, offsetof(struct ws_env_config, socket) },
};
#define NSOURCES (sizeof(sources) / sizeof(sources[0]))

/* After this many refusals a connection's further ones are not logged:
 * a client can send env requests without end. */
#define CLIENT_REFUSALS_LOGGED 32

static int configured(const struct ws_env_config *cfg, size_t i) {
	return *(char *const *)((const char *)cfg + sources[i].setting) != NULL;
}

int ws_env_any_source(const struct ws_env_config *cfg) {
	size_t i;
	for (i = 0; i < NSOURCES; i++) {
		if (configured(cfg, i)) {
			return 1;
		}
	}
	return 0;
}

static long us_since(const struct timespec *t0) {
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - t0->tv_sec) * 1000000 + (now.tv_nsec - t0->tv_nsec) / 1000;
}

int ws_env_session(struct ws_plugin *p, const struct ws_session *s,
		ws_env_set_fn set, void *env_ctx) {
	const struct ws_env_config *cfg = &p->cfg.env;
	struct ws_env_request req = {
		s->conn->user ? s->conn->user : "",
		s->conn->session_id ? s->conn->session_id : "",
		s->conn->client_addr ? s->conn->client_addr : "",
		s->conn->key_fingerprint ? s->conn->key_fingerprint : "",
	};
	struct ws_envlist have, work;
	unsigned int i, refused_by_server = 0;
	int failed = 0;

	ws_envlist_init(&have);
	ws_envlist_init(&work);
	for (i = 0; i < NSOURCES; i++) {
		struct ws_env_source_result r = { sources[i].name, "ok", NULL, 0, 0, NULL, 0 };
		char err[512] = "";
		struct timespec t0;
		int ret;

		if (!configured(cfg, i)) {
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (ws_envlist_copy(&work, &have) != 0) {
			snprintf(err, sizeof(err), "out of memory");
			ret = -1;
		} else {
			ret = sources[i].run(cfg, &req, &work, err, sizeof(err));
		}
		r.us = us_since(&t0);
		r.vars = work.taken;
		r.rejected = work.rejected;
		r.rejected_names = work.rejected_names;
		if (ret < 0) {
			r.status = "failed";
			r.reason = err;
			r.vars = 0; /* none of a failed source is used */
			failed = 1;
		} else if (ret == 1) {
			r.status = "absent";
			r.reason = err;
		}
		ws_events_env_source(p, s, &r); /* before the swap: r points into work */
		if (ret >= 0) {
			struct ws_envlist swap = have;
			have = work; /* this source's result, on top of the earlier ones */
			work = swap;
		}
		ws_envlist_free(&work);
	}
	if (failed && cfg->fail_closed) {
		ws_envlist_free(&have);
		return WS_HOOK_FAIL;
	}
	for (i = 0; i < have.count; i++) {
		if (set(env_ctx, have.vars[i].name, have.vars[i].value) != WS_HOOK_OK) {
			refused_by_server++;
		}
	}
	if (refused_by_server > 0) {
		struct ws_env_source_result r = { "server", "refused", "over the server's caps",
			0, refused_by_server, "", 0 };
		ws_events_env_source(p, s, &r);
	}
	ws_envlist_free(&have);
	return WS_HOOK_OK;
}

/* Logs a client env refusal by name (cut and escaped: a client may send any
 * bytes), and stops logging after CLIENT_REFUSALS_LOGGED. */
static void log_client_refusal(struct ws_plugin *p, const struct ws_session *s,
		const char *name, size_t len, const char *why) {
	char shown[WS_ENV_NAME_LOG_SIZE];

	if (p->client_env_refused++ < CLIENT_REFUSALS_LOGGED) {
		ws_events_client_env_refused(p, s, ws_env_name_for_log(name, len, shown, sizeof(shown)),
			why);
	}
}

/* A client "env" request into a session whose key has a forced command or
 * restrict: the key's owner was meant to run that command only, and any
 * variable may steer it (the denylist covers what the shell and the loader
 * run code from, not what the command itself reads).  Refused unless
 * client_env_forced_command = yes; refused too when the server does not say
 * (one built before key_options). */
static const char *key_refusal(const struct ws_env_config *cfg, const struct ws_session *s) {
	if (!WS_HOOK_HAS(s, struct ws_session, key_options)) {
		return "the server does not report the key's options";
	}
	if ((s->key_options & (WS_KEY_FORCED_COMMAND | WS_KEY_RESTRICT)) != 0
			&& !cfg->client_forced_command) {
		return "the key has a forced command or restrict";
	}
	return NULL;
}

int ws_env_client(struct ws_plugin *p, const struct ws_session *s,
		const char *name, const char *value) {
	const struct ws_env_config *cfg = &p->cfg.env;
	const char *why = NULL;

	/* The server checks names too, but the rules are the library's own:
	 * an allowlist glob such as "?" or "*" must not let "A-B" through. */
	if (!ws_env_name_valid(name, strlen(name))) {
		why = "invalid name";
	} else if ((why = key_refusal(cfg, s)) != NULL) {
		/* why is set */
	} else if (!ws_env_client_allowed(cfg->client_allow, name)) {
		why = "not in client_env_allow";
	} else if (ws_env_name_denied(cfg, name)) {
		why = "denied name";
	} else if (strlen(value) > cfg->value_max) {
		why = "value too long";
	} else if (p->client_env_accepted >= cfg->max_vars) {
		why = "too many variables";
	} else {
		why = ws_env_client_value_refusal(name, value);
	}
	if (why == NULL) {
		p->client_env_accepted++;
		return WS_HOOK_ACCEPT;
	}
	log_client_refusal(p, s, name, strlen(name), why);
	return WS_HOOK_REFUSE;
}

void ws_env_client_refused_by_server(struct ws_plugin *p, const struct ws_session *s,
		const char *name, size_t len, const char *why) {
	log_client_refusal(p, s, name, len, why ? why : "refused by the server");
}
