/*
 * config.c - reads the hook library's config file (format in config.h).
 * Keys are a table: a feature adds its settings by adding rows.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A setter returns 0, or -1 with what was wrong in `why`. */
typedef int (*setter_fn)(struct ws_config *cfg, const char *value, char *why, size_t whylen);

static int parse_bool(const char *value, int *out) {
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(value, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcmp(value, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

static int set_event_log(struct ws_config *cfg, const char *value, char *why, size_t whylen) {
	if (strcmp(value, "stderr") == 0) {
		cfg->event_log = WS_EVENT_LOG_STDERR;
	} else if (strcmp(value, "off") == 0) {
		cfg->event_log = WS_EVENT_LOG_OFF;
	} else if (value[0] == '/') {
		char *copy = strdup(value);
		if (copy == NULL) {
			snprintf(why, whylen, "out of memory");
			return -1;
		}
		free(cfg->event_log_path);
		cfg->event_log_path = copy;
		cfg->event_log = WS_EVENT_LOG_FILE;
	} else {
		snprintf(why, whylen, "expected stderr, off or an absolute file path");
		return -1;
	}
	return 0;
}

static int set_log_commands(struct ws_config *cfg, const char *value, char *why, size_t whylen) {
	if (parse_bool(value, &cfg->log_commands) != 0) {
		snprintf(why, whylen, "expected yes or no");
		return -1;
	}
	return 0;
}

static int set_activity_dir(struct ws_config *cfg, const char *value, char *why, size_t whylen) {
	char *copy = NULL;
	if (strcmp(value, "off") != 0) {
		if (value[0] != '/') {
			snprintf(why, whylen, "expected off or an absolute directory path");
			return -1;
		}
		if ((copy = strdup(value)) == NULL) {
			snprintf(why, whylen, "out of memory");
			return -1;
		}
	}
	free(cfg->activity_dir);
	cfg->activity_dir = copy;
	return 0;
}

static int set_activity_interval(struct ws_config *cfg, const char *value, char *why, size_t whylen) {
	char *end;
	unsigned long v = strtoul(value, &end, 10);
	if (value[0] < '0' || value[0] > '9' || *end != '\0' || v < 1 || v > 3600) {
		snprintf(why, whylen, "expected a number of seconds from 1 to 3600");
		return -1;
	}
	cfg->activity_interval = (unsigned int)v;
	return 0;
}

static const struct {
	const char *name;
	setter_fn set;
} keys[] = {
	{ "event_log", set_event_log },
	{ "log_commands", set_log_commands },
	{ "activity_dir", set_activity_dir },
	{ "activity_interval", set_activity_interval },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

void ws_config_init(struct ws_config *cfg) {
	memset(cfg, 0, sizeof(*cfg));
	cfg->event_log = WS_EVENT_LOG_STDERR;
	cfg->log_commands = 1;
	cfg->activity_interval = 10;
}

void ws_config_free(struct ws_config *cfg) {
	free(cfg->event_log_path);
	free(cfg->activity_dir);
	ws_config_init(cfg);
}

static int fail(char *err, size_t errlen, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int is_blank(char c) {
	return c == ' ' || c == '\t';
}

static const char *skip_blanks(const char *p, const char *end) {
	while (p < end && is_blank(*p)) {
		p++;
	}
	return p;
}

/* Reads the value that starts at p into out (NUL-terminated, at most
 * WS_CONFIG_MAX_LINE bytes).  Returns 0 or -1 with the reason in why. */
static int read_value(const char *p, const char *end, char *out, char *why, size_t whylen) {
	size_t n = 0;

	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && p + 1 < end && (p[1] == '"' || p[1] == '\\')) {
				p++;
			}
			out[n++] = *p;
		}
		if (p == end) {
			snprintf(why, whylen, "unterminated quoted value");
			return -1;
		}
		p = skip_blanks(p + 1, end);
		if (p < end && *p != '#') {
			snprintf(why, whylen, "unexpected text after the quoted value");
			return -1;
		}
		out[n] = '\0';
		return 0;
	}
	for (; p < end; p++) {
		if (*p == '#' && n > 0 && is_blank(out[n - 1])) {
			break; /* a comment after the value */
		}
		out[n++] = *p;
	}
	while (n > 0 && is_blank(out[n - 1])) {
		n--;
	}
	out[n] = '\0';
	if (n == 0) {
		snprintf(why, whylen, "no value (write \"\" for an empty one)");
		return -1;
	}
	return 0;
}

/* Parses one line (no newline); 0 or -1 with err set. */
static int parse_line(struct ws_config *cfg, const char *name, unsigned int lineno,
		const char *p, const char *end, unsigned int *seen, char *err, size_t errlen) {
	char value[WS_CONFIG_MAX_LINE + 1];
	char why[256];
	const char *key, *c;
	size_t keylen, k;

	for (c = p; c < end; c++) {
		if ((unsigned char)*c < 0x20 && *c != '\t') {
			return fail(err, errlen, "%s:%u: control character in line", name, lineno);
		}
	}
	p = skip_blanks(p, end);
	if (p == end || *p == '#') {
		return 0;
	}
	key = p;
	while (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) {
		p++;
	}
	keylen = (size_t)(p - key);
	p = skip_blanks(p, end);
	if (keylen == 0 || p == end || *p != '=') {
		return fail(err, errlen, "%s:%u: expected 'key = value'", name, lineno);
	}
	for (k = 0; k < NKEYS; k++) {
		if (strlen(keys[k].name) == keylen && strncmp(keys[k].name, key, keylen) == 0) {
			break;
		}
	}
	if (k == NKEYS) {
		return fail(err, errlen, "%s:%u: unknown key '%.*s'", name, lineno, (int)keylen, key);
	}
	if (seen[k] != 0) {
		return fail(err, errlen, "%s:%u: '%s' is already set on line %u", name, lineno,
			keys[k].name, seen[k]);
	}
	seen[k] = lineno;
	if (read_value(skip_blanks(p + 1, end), end, value, why, sizeof(why)) != 0
			|| keys[k].set(cfg, value, why, sizeof(why)) != 0) {
		return fail(err, errlen, "%s:%u: %s: %s", name, lineno, keys[k].name, why);
	}
	return 0;
}

int ws_config_parse(struct ws_config *cfg, const char *name, const char *text,
		size_t len, char *err, size_t errlen) {
	unsigned int seen[NKEYS] = { 0 };
	unsigned int lineno = 0;
	const char *p = text, *end = text + len;
	int ret = 0;

	if (len > WS_CONFIG_MAX_BYTES) {
		return fail(err, errlen, "%s: larger than %u bytes", name, WS_CONFIG_MAX_BYTES);
	}
	while (p < end && ret == 0) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *line_end = eol ? eol : end;
		lineno++;
		if (memchr(p, '\0', (size_t)(line_end - p)) != NULL) {
			ret = fail(err, errlen, "%s:%u: NUL byte in line", name, lineno);
			break;
		}
		if (line_end > p && line_end[-1] == '\r') {
			line_end--;
		}
		if (line_end - p > WS_CONFIG_MAX_LINE) {
			ret = fail(err, errlen, "%s:%u: line longer than %u bytes", name, lineno,
				WS_CONFIG_MAX_LINE);
		} else {
			ret = parse_line(cfg, name, lineno, p, line_end, seen, err, errlen);
		}
		p = eol ? eol + 1 : end;
	}
	if (ret != 0) {
		ws_config_free(cfg); /* back to the defaults, not half a config */
	}
	return ret;
}

int ws_config_load(struct ws_config *cfg, const char *path, char *err, size_t errlen) {
	struct stat st;
	char *text;
	ssize_t got;
	size_t len = 0;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		return fail(err, errlen, "%s: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(err, errlen, "%s: not a regular file", path);
	}
	/* Anyone who can write it decides what the server does for every user. */
	if (st.st_mode & S_IWOTH) {
		close(fd);
		return fail(err, errlen, "%s: writable by everyone; refusing it", path);
	}
	if (st.st_size > WS_CONFIG_MAX_BYTES) {
		close(fd);
		return fail(err, errlen, "%s: larger than %u bytes", path, WS_CONFIG_MAX_BYTES);
	}
	text = malloc(WS_CONFIG_MAX_BYTES + 1);
	if (text == NULL) {
		close(fd);
		return fail(err, errlen, "%s: out of memory", path);
	}
	/* read to EOF: the file may have grown since fstat() */
	while ((got = read(fd, text + len, WS_CONFIG_MAX_BYTES + 1 - len)) > 0) {
		len += (size_t)got;
		if (len > WS_CONFIG_MAX_BYTES) {
			break;
		}
	}
	close(fd);
	if (got < 0) {
		ret = fail(err, errlen, "%s: %s", path, strerror(errno));
	} else {
		ret = ws_config_parse(cfg, path, text, len, err, errlen);
	}
	free(text);
	return ret;
}
