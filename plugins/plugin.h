/*
 * plugin.h - the workspace hook library's state, shared by its features.
 */
#ifndef WS_PLUGIN_H
#define WS_PLUGIN_H

#include <time.h>

#include "config.h"
#include "eventlog.h"
#include "ws_hook.h"

struct ws_plugin {
	struct ws_config cfg;
	struct ws_eventlog log;
	int is_listener;
	struct timespec connected_at; /* CLOCK_MONOTONIC, for durations */
};

/* events.c: the JSON event log of a connection's life. */
void ws_events_connect(struct ws_plugin *p, const struct ws_conn *c);
void ws_events_auth(struct ws_plugin *p, const struct ws_conn *c);
void ws_events_session_start(struct ws_plugin *p, const struct ws_session *s, long pid);
void ws_events_agent_socket(struct ws_plugin *p, const struct ws_session *s,
	const char *path, int opened);
void ws_events_session_exit(struct ws_plugin *p, const struct ws_session *s,
	const struct ws_exit *e);
void ws_events_disconnect(struct ws_plugin *p, const struct ws_conn *c, const char *reason);

#endif
