/*
 * eventlog.c - JSON event lines (see eventlog.h).
 */
#include "eventlog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Room always kept for ,"truncated":true}\n */
#define RESERVE 20

static void put(struct ws_event *ev, const char *s, size_t n, int *overflow) {
	if (*overflow || ev->len + n > WS_EVENT_LINE_MAX - RESERVE) {
		*overflow = 1;
		return;
	}
	memcpy(ev->buf + ev->len, s, n);
	ev->len += n;
}

static void puts_(struct ws_event *ev, const char *s, int *overflow) {
	put(ev, s, strlen(s), overflow);
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_sequence(const unsigned char *s, size_t n) {
	uint32_t cp, min;
	size_t len, i;

	if (s[0] < 0x80) {
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		len = 2, cp = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3, cp = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4, cp = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len > n) {
		return 0;
	}
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			return 0;
		}
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
		return 0;
	}
	return len;
}

/* Appends the JSON string literal of at most `cap` bytes of s.
 * Returns 1 if s was cut short. */
static int put_string(struct ws_event *ev, const char *str, size_t cap, int *overflow) {
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str), i = 0;
	char esc[8];

	put(ev, "\"", 1, overflow);
	while (i < n) {
		size_t seq = utf8_sequence(s + i, n - i);
		if (cap != 0 && i + (seq ? seq : 1) > cap) {
			break;
		}
		if (seq == 0) {
			puts_(ev, "\\ufffd", overflow);
			i++;
			continue;
		}
		if (seq == 2 && s[i] == 0xc2 && s[i + 1] < 0xa0) {
			/* a C1 control (U+0080..U+009F): valid JSON raw, but a
			 * terminal showing the log acts on it like ESC [ */
			snprintf(esc, sizeof(esc), "\\u%04x", s[i + 1]);
			puts_(ev, esc, overflow);
		} else if (seq > 1) {
			put(ev, (const char *)s + i, seq, overflow);
		} else if (s[i] == '"' || s[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)s[i];
			put(ev, esc, 2, overflow);
		} else if (s[i] == '\n') {
			puts_(ev, "\\n", overflow);
		} else if (s[i] == '\t') {
			puts_(ev, "\\t", overflow);
		} else if (s[i] < 0x20 || s[i] == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", s[i]);
			puts_(ev, esc, overflow);
		} else {
			put(ev, (const char *)s + i, 1, overflow);
		}
		i += seq;
	}
	put(ev, "\"", 1, overflow);
	return i < n;
}

/* Field helpers: a field that does not fit is rolled back whole. */
static void begin_field(struct ws_event *ev, const char *key, int *overflow) {
	put(ev, ",\"", 2, overflow);
	puts_(ev, key, overflow);
	put(ev, "\":", 2, overflow);
}

static void end_field(struct ws_event *ev, size_t start, int overflow) {
	if (overflow) {
		ev->len = start;
		ev->truncated = 1;
	}
}

void ws_event_begin(struct ws_event *ev, const char *name) {
	struct timespec now;
	struct tm tm;
	char ts[64], ms[8];
	int overflow = 0;

	ev->len = 0;
	ev->truncated = 0;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ms, sizeof(ms), ".%03dZ", (int)(now.tv_nsec / 1000000) % 1000);
	puts_(ev, "{\"ts\":\"", &overflow);
	puts_(ev, ts, &overflow);
	puts_(ev, ms, &overflow);
	puts_(ev, "\",\"event\":", &overflow);
	put_string(ev, name, 64, &overflow);
}

void ws_event_str(struct ws_event *ev, const char *key, const char *value, size_t cap) {
	size_t start = ev->len;
	int overflow = 0;

	if (value == NULL) {
		return;
	}
	begin_field(ev, key, &overflow);
	if (put_string(ev, value, cap, &overflow)) {
		char flag[80];
		snprintf(flag, sizeof(flag), "%s_truncated", key);
		begin_field(ev, flag, &overflow);
		puts_(ev, "true", &overflow);
	}
	end_field(ev, start, overflow);
}

static void put_number(struct ws_event *ev, const char *key, const char *digits) {
	size_t start = ev->len;
	int overflow = 0;

	begin_field(ev, key, &overflow);
	puts_(ev, digits, &overflow);
	end_field(ev, start, overflow);
}

void ws_event_int(struct ws_event *ev, const char *key, long long value) {
	char digits[32];
	snprintf(digits, sizeof(digits), "%lld", value);
	put_number(ev, key, digits);
}

void ws_event_uint(struct ws_event *ev, const char *key, uint64_t value) {
	char digits[32];
	snprintf(digits, sizeof(digits), "%" PRIu64, value);
	put_number(ev, key, digits);
}

void ws_event_bool(struct ws_event *ev, const char *key, int value) {
	put_number(ev, key, value ? "true" : "false");
}

size_t ws_event_end(struct ws_event *ev) {
	/* RESERVE guarantees the room for this */
	if (ev->truncated) {
		memcpy(ev->buf + ev->len, ",\"truncated\":true", 17);
		ev->len += 17;
	}
	memcpy(ev->buf + ev->len, "}\n", 2);
	ev->len += 2;
	return ev->len;
}

int ws_eventlog_open(struct ws_eventlog *log, const struct ws_config *cfg,
		char *err, size_t errlen) {
	log->fd = -1;
	log->owned = 0;
	switch (cfg->event_log) {
	case WS_EVENT_LOG_OFF:
		return 0;
	case WS_EVENT_LOG_STDERR:
		log->fd = STDERR_FILENO;
		return 0;
	case WS_EVENT_LOG_FILE:
		/* 0600: events name users, addresses and commands */
		log->fd = open(cfg->event_log_path,
			O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
		if (log->fd < 0) {
			snprintf(err, errlen, "event_log %s: %s", cfg->event_log_path, strerror(errno));
			return -1;
		}
		log->owned = 1;
		return 0;
	}
	snprintf(err, errlen, "event_log: bad setting");
	return -1;
}

void ws_eventlog_write(struct ws_eventlog *log, struct ws_event *ev) {
	ssize_t w;
	size_t len = ws_event_end(ev);

	if (log->fd < 0) {
		return;
	}
	do {
		w = write(log->fd, ev->buf, len);
	} while (w < 0 && errno == EINTR);
}

void ws_eventlog_close(struct ws_eventlog *log) {
	if (log->owned && log->fd >= 0) {
		close(log->fd);
	}
	log->fd = -1;
	log->owned = 0;
}
