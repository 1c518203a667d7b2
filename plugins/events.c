/*
 * events.c - the JSON event log: one line per step of a connection's life
 * (connect, auth, env_source, client_env_refused, session_start,
 * agent_socket, agent_link, agent_problem, activity_problem, session_exit,
 * disconnect); docs/events.md lists each with its fields.  The activity
 * record, which is not an event line, is written by activity.c.
 * Names, addresses, fingerprints and commands only: never environment
 * values or key material.  Fields are those of ABI version 1, which every
 * server that speaks it passes, so no WS_HOOK_HAS checks are needed here.
 */
#include "envlist.h"
#include "plugin.h"

/* Per-field caps keep every line far below WS_EVENT_LINE_MAX. */
#define CAP_COMMAND 1024
#define CAP_REASON 256
#define CAP_NAME 256
#define CAP_TERM 64
#define CAP_PATH 512

static void begin(struct ws_event *ev, const char *name, const struct ws_conn *c) {
	ws_event_begin(ev, name);
	ws_event_str(ev, "session", c->session_id, CAP_NAME);
}

static void add_session(struct ws_event *ev, const struct ws_session *s) {
	ws_event_str(ev, "user", s->conn->user, CAP_NAME);
	ws_event_uint(ev, "channel", s->channel);
	ws_event_str(ev, "kind", s->kind, CAP_NAME);
}

void ws_events_connect(struct ws_plugin *p, const struct ws_conn *c) {
	struct ws_event ev;

	begin(&ev, "connect", c);
	ws_event_str(&ev, "client", c->client_addr, CAP_NAME);
	ws_event_str(&ev, "client_port", c->client_port, CAP_NAME);
	ws_event_int(&ev, "pid", c->pid);
	ws_eventlog_write(&p->log, &ev);
}

void ws_events_auth(struct ws_plugin *p, const struct ws_conn *c) {
	struct ws_event ev;

	begin(&ev, "auth", c);
	ws_event_str(&ev, "user", c->user, CAP_NAME);
	ws_event_str(&ev, "method", c->auth_method, CAP_NAME);
	ws_event_str(&ev, "key_fp", c->key_fingerprint, CAP_NAME);
	ws_event_str(&ev, "client", c->client_addr, CAP_NAME);
	ws_eventlog_write(&p->log, &ev);
}

void ws_events_session_start(struct ws_plugin *p, const struct ws_session *s, long pid) {
	struct ws_event ev;

	begin(&ev, "session_start", s->conn);
	add_session(&ev, s);
	if (p->cfg.log_commands) {
		ws_event_str(&ev, "command", s->command, CAP_COMMAND);
	}
	ws_event_bool(&ev, "pty", s->term != NULL);
	ws_event_str(&ev, "term", s->term, CAP_TERM);
	ws_event_int(&ev, "pid", pid);
	ws_eventlog_write(&p->log, &ev);
}

void ws_events_agent_socket(struct ws_plugin *p, const struct ws_session *s,
		const char *path, int opened) {
	struct ws_event ev;

	begin(&ev, "agent_socket", s->conn);
	add_session(&ev, s);
	ws_event_str(&ev, "state", opened ? "open" : "closed", 0);
	ws_event_str(&ev, "path", path, CAP_PATH);
	ws_eventlog_write(&p->log, &ev);
}

void ws_events_session_exit(struct ws_plugin *p, const struct ws_session *s,
		const struct ws_exit *e) {
	struct ws_event ev;

	begin(&ev, "session_exit", s->conn);
	add_session(&ev, s);
	if (e->exit_signal > 0) {
		ws_event_int(&ev, "signal", e->exit_signal);
	} else if (e->exit_status >= 0) {
		ws_event_int(&ev, "status", e->exit_status);
	}
	ws_event_uint(&ev, "bytes_in", e->bytes_in);
	ws_event_uint(&ev, "bytes_out", e->bytes_out);
	ws_eventlog_write(&p->log, &ev);
}

void ws_events_env_source(struct ws_plugin *p, const struct ws_session *s,
		const struct ws_env_source_result *r) {
	struct ws_event ev;

	begin(&ev, "env_source", s->conn);
	add_session(&ev, s);
	ws_event_str(&ev, "source", r->source, 0);
	ws_event_str(&ev, "status", r->status, 0);
	ws_event_uint(&ev, "vars", r->vars);
	if (r->rejected > 0) {
		ws_event_uint(&ev, "rejected", r->rejected);
		ws_event_str(&ev, "rejected_names", r->rejected_names, CAP_PATH);
	}
	ws_event_str(&ev, "reason", r->reason, CAP_PATH);
	ws_event_int(&ev, "us", r->us);
	ws_eventlog_write(&p->log, &ev);
}

void ws_events_client_env_refused(struct ws_plugin *p, const struct ws_session *s,
		const char *name, const char *why) {
	struct ws_event ev;

	begin(&ev, "client_env_refused", s->conn);
	add_session(&ev, s);
	ws_event_str(&ev, "name", name, WS_ENV_NAME_LOG_SIZE); /* escaped and cut already */
	ws_event_str(&ev, "reason", why, 0);
	ws_eventlog_write(&p->log, &ev);
}

void ws_events_agent_link(struct ws_plugin *p, const struct ws_session *s, const char *target) {
	struct ws_event ev;

	begin(&ev, "agent_link", s->conn);
	ws_event_str(&ev, "user", s->conn->user, CAP_NAME);
	ws_event_str(&ev, "target", target ? target : "none", CAP_PATH);
	ws_eventlog_write(&p->log, &ev);
}

void ws_events_agent_problem(struct ws_plugin *p, const struct ws_session *s, const char *what,
		const char *path, const char *reason) {
	struct ws_event ev;

	begin(&ev, "agent_problem", s->conn);
	ws_event_str(&ev, "user", s->conn->user, CAP_NAME);
	ws_event_str(&ev, "problem", what, 0);
	ws_event_str(&ev, "path", path, CAP_PATH);
	ws_event_str(&ev, "reason", reason, CAP_REASON);
	ws_eventlog_write(&p->log, &ev);
}

void ws_events_activity_problem(struct ws_plugin *p, const struct ws_conn *c, const char *path,
		const char *reason) {
	struct ws_event ev;

	begin(&ev, "activity_problem", c);
	ws_event_str(&ev, "user", c->user, CAP_NAME);
	ws_event_str(&ev, "path", path, CAP_PATH);
	ws_event_str(&ev, "reason", reason, CAP_REASON);
	ws_eventlog_write(&p->log, &ev);
}

void ws_events_disconnect(struct ws_plugin *p, const struct ws_conn *c, const char *reason) {
	struct ws_event ev;
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(now.tv_sec - p->connected_at.tv_sec) * 1000
		+ (now.tv_nsec - p->connected_at.tv_nsec) / 1000000;
	begin(&ev, "disconnect", c);
	ws_event_str(&ev, "user", c->user, CAP_NAME);
	ws_event_str(&ev, "reason", reason, CAP_REASON);
	ws_event_int(&ev, "duration_ms", ms);
	ws_eventlog_write(&p->log, &ev);
}
