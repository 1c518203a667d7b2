/*
 * plugin.h - the workspace hook library's state, shared by its features.
 */
#ifndef WS_PLUGIN_H
#define WS_PLUGIN_H

#include <time.h>

#include "config.h"
#include "eventlog.h"
#include "ws_hook.h"

/* This connection's activity record (activity.c). */
struct ws_activity_state {
	int active;
	char path[4200];
	int64_t connected_ms, last_activity_ms; /* wall clock */
	unsigned int channels;
	time_t written_at;            /* CLOCK_MONOTONIC seconds */
	int problem_logged;           /* a failed write was logged */
};

struct ws_plugin {
	struct ws_config cfg;
	struct ws_eventlog log;
	int is_listener;
	struct timespec connected_at; /* CLOCK_MONOTONIC, for durations */
	unsigned int client_env_accepted; /* this connection's, for the cap */
	unsigned int client_env_refused;  /* to stop logging a flood */
	int agent_dir_state;              /* 0 unchecked, 1 usable, -1 refused */
	int agent_workspace_logged;       /* its problem was logged */
	int agent_disconnecting;          /* the connection is ending */
	int agent_lock_logged;            /* a lock held too long was logged */
	int agent_unlinked;               /* the last update went without the lock */
	char agent_pending[1024];         /* a forwarded socket not yet in the registry */
	unsigned int agent_pending_channel;
	char agent_dir[1024];             /* expanded agent_dir */
	struct ws_activity_state activity;
	char *config_path;                /* for the gateway's helpers */
	long gw_keeper;                   /* ws-gateway keeper's pid; 0 = none */
	long gw_keeper_owner;             /* the pid that started it: only it stops it */
	int gw_log_fd;                    /* the log handed to control; 0 = none */
	int gw_lifeline;                  /* its pipe's write end */
	char gw_user[64];                 /* whose keys gw_keys holds */
	char *gw_keys;                    /* cached for this connection */
	size_t gw_keys_len;
	int gw_known;                     /* 1 known, 0 unknown, -1 refused */
	time_t gw_wake_window;            /* CLOCK_MONOTONIC s: this minute's start */
	unsigned int gw_wakes;            /* wakes started in it */
};

/* What one environment source did, for its log line (never values). */
struct ws_env_source_result {
	const char *source;        /* dir, file, command, socket */
	const char *status;        /* ok, absent, failed */
	const char *reason;        /* why failed/absent; NULL when ok */
	long us;                   /* how long it took */
	unsigned int vars;         /* variables it set */
	const char *rejected_names;
	unsigned int rejected;
};

/* events.c: the JSON event log of a connection's life. */
void ws_events_connect(struct ws_plugin *p, const struct ws_conn *c);
void ws_events_auth(struct ws_plugin *p, const struct ws_conn *c);
void ws_events_session_start(struct ws_plugin *p, const struct ws_session *s, long pid);
void ws_events_agent_socket(struct ws_plugin *p, const struct ws_session *s,
	const char *path, int opened);
void ws_events_session_exit(struct ws_plugin *p, const struct ws_session *s,
	const struct ws_exit *e);
void ws_events_env_source(struct ws_plugin *p, const struct ws_session *s,
	const struct ws_env_source_result *r);
void ws_events_client_env_refused(struct ws_plugin *p, const struct ws_session *s,
	const char *name, const char *why);
/* target NULL: the stable agent link was removed. */
void ws_events_agent_link(struct ws_plugin *p, const struct ws_session *s, const char *target);
void ws_events_agent_problem(struct ws_plugin *p, const struct ws_session *s, const char *what,
	const char *path, const char *reason);
void ws_events_disconnect(struct ws_plugin *p, const struct ws_conn *c, const char *reason);
void ws_events_activity_problem(struct ws_plugin *p, const struct ws_conn *c, const char *path,
	const char *reason);

/* envfetch.c: the per-user environment and client env requests. */
int ws_env_any_source(const struct ws_env_config *cfg);
int ws_env_session(struct ws_plugin *p, const struct ws_session *s,
	ws_env_set_fn set, void *env_ctx);
int ws_env_client(struct ws_plugin *p, const struct ws_session *s,
	const char *name, const char *value);
/* The server refused a request itself (see client_env_refused in ws_hook.h). */
void ws_env_client_refused_by_server(struct ws_plugin *p, const struct ws_session *s,
	const char *name, size_t len, const char *why);

/* agent.c: the stable SSH_AUTH_SOCK. */
int ws_agent_request(struct ws_plugin *p, const struct ws_session *s);
void ws_agent_socket(struct ws_plugin *p, const struct ws_session *s, const char *path, int opened);
void ws_agent_session_prepare(struct ws_plugin *p, const struct ws_session *s);
void ws_agent_disconnect(struct ws_plugin *p, const struct ws_conn *c);
const char *ws_agent_env_path(struct ws_plugin *p, const struct ws_session *s, int key_allows);

/* activity.c: the activity record read by idle-cullers. */
int ws_activity_startup(struct ws_plugin *p, char *err, size_t errlen);
void ws_activity_connect(struct ws_plugin *p, const struct ws_conn *c);
void ws_activity_auth(struct ws_plugin *p, const struct ws_conn *c);
void ws_activity_update(struct ws_plugin *p, const struct ws_conn *c,
	const struct ws_activity *a);
void ws_activity_disconnect(struct ws_plugin *p);

/* gateway_hooks.c: the gateway role (docs/gateway.md). */
int ws_gw_startup(struct ws_plugin *p, char *err, size_t errlen);
void ws_gw_shutdown(struct ws_plugin *p);
/* A connection process (forked, not re-executed) lets go of the keeper. */
void ws_gw_connect(struct ws_plugin *p);
int ws_gw_user_lookup(struct ws_plugin *p, const struct ws_conn *c, const char *user);
int ws_gw_authorized_keys(struct ws_plugin *p, const struct ws_conn *c, const char *user);
int ws_gw_tcp_route(struct ws_plugin *p, const struct ws_conn *c, const char *host,
	unsigned int port, int *fd_out, char *reason, size_t reasonlen);
int ws_gw_session_env(struct ws_plugin *p, const struct ws_session *s,
	ws_env_set_fn set, void *env_ctx);

#endif
