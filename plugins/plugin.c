/*
 * plugin.c - the workspace hook library's entry point: reads the config,
 * opens the event log and hands each server hook to the features.
 */
#define _DEFAULT_SOURCE /* realpath */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway.h"
#include "plugin.h"

static struct ws_hooks hooks;
static void gateway_callbacks(int on);

static void free_plugin(struct ws_plugin *p) {
	ws_eventlog_close(&p->log);
	ws_config_free(&p->cfg);
	free(p->config_path);
	free(p);
}

static int startup(void **ctx, const char *config_path, int is_listener,
		char *err, size_t errlen) {
	struct ws_plugin *p = calloc(1, sizeof(*p));

	if (p == NULL) {
		snprintf(err, errlen, "out of memory");
		return WS_HOOK_FAIL;
	}
	ws_config_init(&p->cfg);
	p->is_listener = is_listener;
	/* absolute: the gateway's helpers and sessions run elsewhere */
	if (config_path != NULL && (p->config_path = realpath(config_path, NULL)) == NULL
			&& (p->config_path = strdup(config_path)) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(p);
		return -1;
	}
	if ((config_path != NULL && ws_config_load(&p->cfg, config_path, err, errlen) != 0)
			|| ws_eventlog_open(&p->log, &p->cfg, err, errlen) != 0
			|| ws_activity_startup(p, err, errlen) != 0
			|| ws_gw_startup(p, err, errlen) != 0) {
		free_plugin(p);
		return WS_HOOK_FAIL;
	}
	/* A helper that cannot run would fail every login: say so now. */
	if (p->cfg.env.command != NULL && access(p->cfg.env.command, X_OK) != 0) {
		snprintf(err, errlen, "env_command %s: %s", p->cfg.env.command, strerror(errno));
		ws_gw_shutdown(p);
		free_plugin(p);
		return WS_HOOK_FAIL;
	}
	gateway_callbacks(p->cfg.gateway.enabled);
	*ctx = p;
	return WS_HOOK_OK;
}

static void on_connect(void *ctx, const struct ws_conn *c) {
	struct ws_plugin *p = ctx;
	clock_gettime(CLOCK_MONOTONIC, &p->connected_at);
	ws_gw_connect(p);
	ws_events_connect(p, c);
	ws_activity_connect(p, c);
}

static void on_auth_success(void *ctx, const struct ws_conn *c) {
	ws_events_auth(ctx, c);
	ws_activity_auth(ctx, c);
}

static void on_activity(void *ctx, const struct ws_conn *c, const struct ws_activity *a) {
	ws_activity_update(ctx, c, a);
}

static int on_client_env(void *ctx, const struct ws_session *s, const char *name,
		const char *value) {
	struct ws_plugin *p = ctx;
	if (p->cfg.gateway.enabled) {
		return 0; /* a gateway session is ws-gateway control, nothing to set */
	}
	return ws_env_client(ctx, s, name, value);
}

static void on_client_env_refused(void *ctx, const struct ws_session *s, const char *name,
		size_t name_len, const char *reason) {
	ws_env_client_refused_by_server(ctx, s, name, name_len, reason);
}

static int on_session_env(void *ctx, const struct ws_session *s, ws_env_set_fn set,
		void *env_ctx) {
	struct ws_plugin *p = ctx;
	if (p->cfg.gateway.enabled) {
		return ws_gw_session_env(p, s, set, env_ctx);
	}
	ws_agent_session_prepare(p, s); /* before the child: it gets the path */
	if (!ws_env_any_source(&p->cfg.env)) {
		return WS_HOOK_OK;
	}
	return ws_env_session(p, s, set, env_ctx);
}

static void on_session_start(void *ctx, const struct ws_session *s, long child_pid) {
	ws_events_session_start(ctx, s, child_pid);
}

static void on_agent_socket(void *ctx, const struct ws_session *s, const char *path, int opened) {
	ws_events_agent_socket(ctx, s, path, opened);
	ws_agent_socket(ctx, s, path, opened);
}

static int on_agent_request(void *ctx, const struct ws_session *s) {
	struct ws_plugin *p = ctx;
	if (p->cfg.gateway.enabled) {
		return 0; /* the gateway has no use for the client's agent */
	}
	return ws_agent_request(ctx, s);
}

static const char *on_agent_env_path(void *ctx, const struct ws_session *s, int key_allows_agent) {
	return ws_agent_env_path(ctx, s, key_allows_agent);
}

static void on_session_exit(void *ctx, const struct ws_session *s, const struct ws_exit *e) {
	ws_events_session_exit(ctx, s, e);
}

static void on_disconnect(void *ctx, const struct ws_conn *c, const char *reason) {
	ws_events_disconnect(ctx, c, reason);
	ws_agent_disconnect(ctx, c);
	ws_activity_disconnect(ctx);
}

static void shutdown_(void *ctx) {
	struct ws_plugin *p = ctx;
	ws_activity_disconnect(p);
	ws_gw_shutdown(p);
	free_plugin(p);
}

static int on_user_lookup(void *ctx, const struct ws_conn *c, const char *user) {
	return ws_gw_user_lookup(ctx, c, user);
}

static int on_authorized_keys(void *ctx, const struct ws_conn *c, const char *user) {
	return ws_gw_authorized_keys(ctx, c, user);
}

static int on_tcp_route(void *ctx, const struct ws_conn *c, const char *host,
		unsigned int port, int *fd_out, char *reason, size_t reasonlen) {
	return ws_gw_tcp_route(ctx, c, host, port, fd_out, reason, reasonlen);
}

static struct ws_hooks hooks = {
	.abi_version = WS_HOOK_ABI_VERSION,
	.struct_size = sizeof(struct ws_hooks),
	.name = "ssh-workspace",
	.startup = startup,
	.connect = on_connect,
	.auth_success = on_auth_success,
	.client_env = on_client_env,
	.session_env = on_session_env,
	.session_start = on_session_start,
	.agent_socket = on_agent_socket,
	.session_exit = on_session_exit,
	.disconnect = on_disconnect,
	.shutdown = shutdown_,
	.agent_request = on_agent_request,
	.agent_env_path = on_agent_env_path,
	.activity = on_activity,
	.client_env_refused = on_client_env_refused,
};

/* The gateway's callbacks exist only in the gateway role: without them the
 * server keeps its own user, key and forwarding rules (ws_hook.h), which a
 * workspace needs.  The server checks each callback when it calls it, and
 * startup runs before any of them. */
static void gateway_callbacks(int on) {
	hooks.user_lookup = on ? on_user_lookup : NULL;
	hooks.authorized_keys = on ? on_authorized_keys : NULL;
	hooks.tcp_route = on ? on_tcp_route : NULL;
}

WS_HOOK_EXPORT const struct ws_hooks *ws_hook_entry(void) {
	return &hooks;
}
