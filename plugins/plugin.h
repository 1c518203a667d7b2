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
};

struct ws_plugin {
	struct ws_config cfg;
	struct ws_eventlog log;
	int is_listener;
	struct timespec connected_at; /* CLOCK_MONOTONIC, for durations */
	struct ws_activity_state activity;
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

/* activity.c: the activity record read by idle-cullers. */
int ws_activity_startup(struct ws_plugin *p, char *err, size_t errlen);
void ws_activity_connect(struct ws_plugin *p, const struct ws_conn *c);
void ws_activity_auth(struct ws_plugin *p, const struct ws_conn *c);
void ws_activity_update(struct ws_plugin *p, const struct ws_conn *c,
	const struct ws_activity *a);
void ws_activity_disconnect(struct ws_plugin *p);

#endif
