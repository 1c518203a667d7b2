/*
 * test_eventlog.c - JSON event lines: format, escaping, caps, writing.
 */
#include "unit.h"

#include <ctype.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "eventlog.h"

/* Ends the line and returns it from "event" on, with the newline kept. */
static const char *finish(struct ws_event *ev) {
	static char out[WS_EVENT_LINE_MAX + 1];
	const char *from;
	ws_event_end(ev);
	memcpy(out, ev->buf, ev->len);
	out[ev->len] = '\0';
	from = strstr(out, "\"event\"");
	return from ? from : out;
}

/* A string field's JSON text for value, capped at cap. */
static const char *render(const char *value, size_t cap) {
	struct ws_event ev;
	ws_event_begin(&ev, "t");
	ws_event_str(&ev, "v", value, cap);
	return finish(&ev);
}

static void line_shape_and_timestamp(void) {
	struct ws_event ev;
	const char *ts = "{\"ts\":\"2099-01-01T00:00:00.000Z\",";
	size_t i;

	ws_event_begin(&ev, "connect");
	ws_event_int(&ev, "pid", -42);
	ws_event_uint(&ev, "bytes", 18446744073709551615ull);
	ws_event_bool(&ev, "pty", 1);
	ws_event_bool(&ev, "x", 0);
	ws_event_str(&ev, "absent", NULL, 0);
	CHECK_STR(finish(&ev),
		"\"event\":\"connect\",\"pid\":-42,\"bytes\":18446744073709551615,"
		"\"pty\":true,\"x\":false}\n");
	for (i = 0; ts[i] != '\0'; i++) { /* digits where the template has digits */
		CHECK(isdigit((unsigned char)ts[i]) ? isdigit((unsigned char)ev.buf[i]) : ev.buf[i] == ts[i]);
	}
}

static void escaping(void) {
	CHECK_STR(render("a\"b\\c", 0), "\"event\":\"t\",\"v\":\"a\\\"b\\\\c\"}\n");
	CHECK_STR(render("l1\nl2\tx\r\x01\x1f\x7f", 0),
		"\"event\":\"t\",\"v\":\"l1\\nl2\\tx\\u000d\\u0001\\u001f\\u007f\"}\n");
	/* valid UTF-8 passes through: é, €, 😀 */
	CHECK_STR(render("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 0),
		"\"event\":\"t\",\"v\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}\n");
	/* C1 controls (U+0080..U+009F: a terminal takes U+009B for ESC [) are
	 * escaped; U+00A0 is the first that is not */
	CHECK_STR(render("\xc2\x80\xc2\x9b" "31m\xc2\x9f\xc2\xa0", 0),
		"\"event\":\"t\",\"v\":\"\\u0080\\u009b31m\\u009f\xc2\xa0\"}\n");
}

static void invalid_utf8_becomes_replacement(void) {
	/* stray continuation, overlong '/', a surrogate, beyond U+10FFFF, cut sequence */
	CHECK_STR(render("a\x80" "b", 0), "\"event\":\"t\",\"v\":\"a\\ufffdb\"}\n");
	CHECK_STR(render("\xc0\xaf", 0), "\"event\":\"t\",\"v\":\"\\ufffd\\ufffd\"}\n");
	CHECK_STR(render("\xed\xa0\x80", 0), "\"event\":\"t\",\"v\":\"\\ufffd\\ufffd\\ufffd\"}\n");
	CHECK_STR(render("\xf4\x90\x80\x80", 0),
		"\"event\":\"t\",\"v\":\"\\ufffd\\ufffd\\ufffd\\ufffd\"}\n");
	CHECK_STR(render("x\xe2\x82", 0), "\"event\":\"t\",\"v\":\"x\\ufffd\\ufffd\"}\n");
}

static void per_field_cap_never_splits_a_character(void) {
	CHECK_STR(render("abcdef", 4), "\"event\":\"t\",\"v\":\"abcd\",\"v_truncated\":true}\n");
	CHECK_STR(render("abcd", 4), "\"event\":\"t\",\"v\":\"abcd\"}\n");
	/* "ab€" is 5 bytes; a cap of 4 must not keep half of the euro sign */
	CHECK_STR(render("ab\xe2\x82\xac", 4), "\"event\":\"t\",\"v\":\"ab\",\"v_truncated\":true}\n");
}

static void an_oversized_field_is_dropped_and_the_line_says_so(void) {
	struct ws_event ev;
	char *huge = malloc(3 * WS_EVENT_LINE_MAX);
	const char *line;

	memset(huge, '"', 3 * WS_EVENT_LINE_MAX - 1); /* every byte doubles when escaped */
	huge[3 * WS_EVENT_LINE_MAX - 1] = '\0';
	ws_event_begin(&ev, "t");
	ws_event_str(&ev, "before", "kept", 0);
	ws_event_str(&ev, "huge", huge, 0);
	ws_event_int(&ev, "after", 1);
	line = finish(&ev);
	CHECK_STR(line, "\"event\":\"t\",\"before\":\"kept\",\"after\":1,\"truncated\":true}\n");
	CHECK(ev.len <= WS_EVENT_LINE_MAX);
	/* a field that only just fits is kept, and the line still fits */
	ws_event_begin(&ev, "t");
	while (ev.len < WS_EVENT_LINE_MAX - 40) {
		ws_event_int(&ev, "n", 1234567);
	}
	CHECK(!ev.truncated);
	ws_event_str(&ev, "more", huge + 2 * WS_EVENT_LINE_MAX, 0);
	ws_event_end(&ev);
	CHECK(ev.truncated);
	CHECK(ev.len <= WS_EVENT_LINE_MAX);
	CHECK(memcmp(ev.buf + ev.len - 19, ",\"truncated\":true}\n", 19) == 0);
	free(huge);
}

static void writes_whole_lines_to_a_private_file(void) {
	struct ws_config cfg;
	struct ws_eventlog log;
	struct ws_event ev;
	char path[512], err[512];
	struct stat st;
	const char *text;

	snprintf(path, sizeof(path), "%s/events.log", unit_tmpdir());
	ws_config_init(&cfg);
	cfg.event_log = WS_EVENT_LOG_FILE;
	cfg.event_log_path = strdup(path);
	CHECK(ws_eventlog_open(&log, &cfg, err, sizeof(err)) == 0);
	ws_event_begin(&ev, "one");
	ws_eventlog_write(&log, &ev);
	ws_event_begin(&ev, "two");
	ws_eventlog_write(&log, &ev);
	ws_eventlog_close(&log);
	CHECK(log.fd == -1);
	/* appended, not overwritten */
	CHECK(ws_eventlog_open(&log, &cfg, err, sizeof(err)) == 0);
	ws_event_begin(&ev, "three");
	ws_eventlog_write(&log, &ev);
	ws_eventlog_close(&log);
	text = unit_read_file(path);
	CHECK_CONTAINS(text, "\"event\":\"one\"}\n{\"ts\"");
	CHECK_CONTAINS(text, "\"event\":\"two\"}\n{\"ts\"");
	CHECK_CONTAINS(text, "\"event\":\"three\"}\n");
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	ws_config_free(&cfg);
}

static void open_errors_and_off(void) {
	struct ws_config cfg;
	struct ws_eventlog log;
	struct ws_event ev;
	char err[512];

	ws_config_init(&cfg);
	cfg.event_log = WS_EVENT_LOG_FILE;
	cfg.event_log_path = strdup("/nonexistent-dir/events.log");
	CHECK(ws_eventlog_open(&log, &cfg, err, sizeof(err)) == -1);
	CHECK_STR(err, "event_log /nonexistent-dir/events.log: No such file or directory");
	ws_config_free(&cfg);
	cfg.event_log = WS_EVENT_LOG_OFF;
	CHECK(ws_eventlog_open(&log, &cfg, err, sizeof(err)) == 0);
	CHECK(log.fd == -1);
	ws_event_begin(&ev, "nowhere");
	ws_eventlog_write(&log, &ev); /* must not crash or write to fd -1 */
	ws_eventlog_close(&log);
}

UNIT_SUITE(eventlog_tests) = {
	{ "eventlog: line shape and timestamp", line_shape_and_timestamp },
	{ "eventlog: JSON escaping", escaping },
	{ "eventlog: invalid UTF-8 becomes U+FFFD", invalid_utf8_becomes_replacement },
	{ "eventlog: per-field cap keeps whole characters", per_field_cap_never_splits_a_character },
	{ "eventlog: oversized field dropped, line marked", an_oversized_field_is_dropped_and_the_line_says_so },
	{ "eventlog: whole lines appended to a 0600 file", writes_whole_lines_to_a_private_file },
	{ "eventlog: open errors and off", open_errors_and_off },
	UNIT_END
};
