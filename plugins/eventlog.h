/*
 * eventlog.h - one JSON object per line, each line written with one write().
 *
 * Lines are at most WS_EVENT_LINE_MAX bytes (PIPE_BUF on Linux), so lines
 * from concurrent connection processes never interleave, on a pipe or an
 * O_APPEND file.  A field that does not fit is dropped and the line gets
 * "truncated":true; string fields can also be capped one by one.  Strings
 * are escaped for JSON, invalid UTF-8 becomes U+FFFD: what a client sends
 * (user names, commands) cannot break a line or forge a field.
 */
#ifndef WS_EVENTLOG_H
#define WS_EVENTLOG_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define WS_EVENT_LINE_MAX 4096

struct ws_event {
	char buf[WS_EVENT_LINE_MAX];
	size_t len;
	int truncated;
};

/* Starts a line: {"ts":"2026-01-02T03:04:05.678Z","event":"NAME" */
void ws_event_begin(struct ws_event *ev, const char *name);
/* A string field; NULL values are left out.  At most `cap` bytes of value
 * are kept (0 = no cap of its own); a capped value adds "KEY_truncated":true. */
void ws_event_str(struct ws_event *ev, const char *key, const char *value, size_t cap);
void ws_event_int(struct ws_event *ev, const char *key, long long value);
void ws_event_uint(struct ws_event *ev, const char *key, uint64_t value);
void ws_event_bool(struct ws_event *ev, const char *key, int value);
/* Closes the line with "}\n"; returns its length. */
size_t ws_event_end(struct ws_event *ev);

struct ws_eventlog {
	int fd;     /* -1 when off */
	int owned;  /* opened by us, so closed by us */
};

/* Opens what cfg names.  0, or -1 with a reason in err. */
int ws_eventlog_open(struct ws_eventlog *log, const struct ws_config *cfg,
	char *err, size_t errlen);
/* Ends the line and writes it in one write().  Failures are ignored: the
 * event log must never stop a session. */
void ws_eventlog_write(struct ws_eventlog *log, struct ws_event *ev);
void ws_eventlog_close(struct ws_eventlog *log);

#endif
