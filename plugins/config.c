/*
 * config.c - reads the hook library's config file (format in config.h).
 * Keys are a table: a feature adds its settings by adding rows.
 */
#include "config.h"
#include "gateway.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int ws_config_set_string(char **slot, const char *value, char *why, size_t whylen) {
	char *copy = strdup(value);
	if (copy == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	free(*slot);
	*slot = copy;
	return 0;
}

static int set_event_log(struct ws_config *cfg, const char *value, char *why, size_t whylen) {
	if (strcmp(value, "stderr") == 0) {
		cfg->event_log = WS_EVENT_LOG_STDERR;
	} else if (strcmp(value, "off") == 0) {
		cfg->event_log = WS_EVENT_LOG_OFF;
	} else if (value[0] == '/') {
		if (ws_config_set_string(&cfg->event_log_path, value, why, whylen) != 0) {
			return -1;
		}
		cfg->event_log = WS_EVENT_LOG_FILE;
	} else {
		snprintf(why, whylen, "expected stderr, off or an absolute file path");
		return -1;
	}
	return 0;
}

static int set_env_on_failure(struct ws_config *cfg, const char *value, char *why, size_t whylen) {
	if (strcmp(value, "open") == 0 || strcmp(value, "closed") == 0) {
		cfg->env.fail_closed = value[0] == 'c';
		return 0;
	}
	snprintf(why, whylen, "expected open or closed");
	return -1;
}

/* Only the expansions envfetch.c knows, so a typo stops startup. */
static int set_socket_url(struct ws_config *cfg, const char *value, char *why, size_t whylen) {
	const char *p;
	if (value[0] != '/') {
		snprintf(why, whylen, "expected a request path starting with /");
		return -1;
	}
	for (p = value; *p != '\0'; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			snprintf(why, whylen, "white space or control character in the path");
			return -1;
		}
		if (*p == '%' && strchr("usaf%", p[1] == '\0' ? 'x' : p[1]) == NULL) {
			snprintf(why, whylen, "unknown expansion '%%%c' (known: %%u %%s %%a %%f %%%%)",
				p[1] ? p[1] : ' ');
			return -1;
		}
		if (*p == '%') {
			p++;
		}
	}
	return ws_config_set_string(&cfg->env.socket_url, value, why, whylen);
}

static int set_client_allow(struct ws_config *cfg, const char *value, char *why, size_t whylen) {
	const char *p;
	for (p = value; *p != '\0'; p++) {
		if (!(isalnum((unsigned char)*p) || strchr("_*?[]!- \t", *p) != NULL)) {
			snprintf(why, whylen, "'%c' cannot be part of a variable name or glob", *p);
			return -1;
		}
	}
	return ws_config_set_string(&cfg->env.client_allow, value, why, whylen);
}

static int set_activity_dir(struct ws_config *cfg, const char *value, char *why, size_t whylen) {
	if (strcmp(value, "off") == 0) {
		free(cfg->activity_dir);
		cfg->activity_dir = NULL;
		return 0;
	}
	if (value[0] != '/') {
		snprintf(why, whylen, "expected off or an absolute directory path");
		return -1;
	}
	return ws_config_set_string(&cfg->activity_dir, value, why, whylen);
}

int ws_config_parse_scaled(const char *value, const struct ws_config_unit *units, unsigned long *out) {
	char *end;
	unsigned long n;

	if (!isdigit((unsigned char)value[0])) {
		return -1;
	}
	errno = 0;
	n = strtoul(value, &end, 10);
	if (errno != 0) {
		return -1;
	}
	for (; units->suffix != NULL; units++) {
		if (strcmp(end, units->suffix) == 0 && n <= ULONG_MAX / units->factor) {
			*out = n * units->factor;
			return 0;
		}
	}
	return -1;
}

/* A duration needs its unit: which one would "5" be? */
static const struct ws_config_unit duration_units[] = { { "ms", 1 }, { "s", 1000 }, { NULL, 0 } };
static const struct ws_config_unit size_units[] = {
	{ "", 1 }, { "K", 1024 }, { "M", 1024 * 1024 }, { NULL, 0 } };
static const struct ws_config_unit count_units[] = { { "", 1 }, { NULL, 0 } };

#define AT(field) offsetof(struct ws_config, field)

/* Every key's default and limits sit in its row, so that the parser, the
 * defaults and docs/hook-config.md (held to this table by a unit test)
 * cannot drift apart.  ws_config_init() sets each `def` through the same
 * setter a config file goes through.  The env caps stop at the server's own
 * (256 variables, 256 KiB). */
static const struct ws_config_key keys[] = {
	{ "event_log", WS_CONFIG_CUSTOM, 0, 0, 0, set_event_log, "stderr", NULL },
	{ "log_commands", WS_CONFIG_BOOL, AT(log_commands), 0, 0, NULL, "yes", NULL },
	{ "env_dir", WS_CONFIG_PATH, AT(env.dir), 0, 0, NULL, NULL, "off" },
	{ "env_file", WS_CONFIG_PATH, AT(env.file), 0, 0, NULL, NULL, "off" },
	{ "env_command", WS_CONFIG_PATH, AT(env.command), 0, 0, NULL, NULL, "off" },
	{ "env_command_timeout", WS_CONFIG_DURATION, AT(env.command_timeout_ms), 10, 60000, NULL,
		"2s", NULL },
	{ "env_socket", WS_CONFIG_PATH, AT(env.socket), 0, 0, NULL, NULL, "off" },
	{ "env_socket_url", WS_CONFIG_CUSTOM, 0, 0, 0, set_socket_url, NULL,
		"`" WS_ENV_SOCKET_URL_DEFAULT "`" },
	{ "env_socket_timeout", WS_CONFIG_DURATION, AT(env.socket_timeout_ms), 10, 60000, NULL,
		"2s", NULL },
	{ "env_output_max", WS_CONFIG_SIZE, AT(env.output_max), 1024, 4 * 1024 * 1024, NULL,
		"256K", NULL },
	{ "env_max_vars", WS_CONFIG_COUNT, AT(env.max_vars), 1, 256, NULL, "128", NULL },
	{ "env_max_bytes", WS_CONFIG_SIZE, AT(env.max_bytes), 64, 256 * 1024, NULL, "128K", NULL },
	{ "env_value_max", WS_CONFIG_SIZE, AT(env.value_max), 1, 256 * 1024, NULL, "32K", NULL },
	{ "env_allow_path", WS_CONFIG_BOOL, AT(env.allow_path), 0, 0, NULL, "no", NULL },
	{ "env_on_failure", WS_CONFIG_CUSTOM, 0, 0, 0, set_env_on_failure, "open", NULL },
	{ "client_env_allow", WS_CONFIG_CUSTOM, 0, 0, 0, set_client_allow, NULL,
		"`\"" WS_CLIENT_ENV_ALLOW_DEFAULT "\"`" },
	{ "client_env_forced_command", WS_CONFIG_BOOL, AT(env.client_forced_command), 0, 0, NULL,
		"no", NULL },
	{ "agent_forwarding", WS_CONFIG_BOOL, AT(agent.forwarding), 0, 0, NULL, "yes", NULL },
	/* agent.c works it out per server (default_agent_dir) */
	{ "agent_dir", WS_CONFIG_PATH, AT(agent.dir), 0, 0, NULL, NULL,
		"`$XDG_RUNTIME_DIR/ssh-workspace-agent`, else `/tmp/ssh-workspace-agent-UID`" },
	{ "agent_workspace_socket", WS_CONFIG_PATH, AT(agent.workspace_socket), 0, 0, NULL, NULL, "off" },
	{ "activity_dir", WS_CONFIG_CUSTOM, 0, 0, 0, set_activity_dir, "off", NULL },
	{ "activity_interval", WS_CONFIG_COUNT, AT(activity_interval), 1, 3600, NULL, "10", NULL },
	{ "role", WS_CONFIG_CUSTOM, 0, 0, 0, ws_gw_set_role, "workspace", NULL },
	{ "gateway_users_dir", WS_CONFIG_PATH, AT(gateway.users_dir), 0, 0, NULL, NULL, "off" },
	{ "gateway_keys_command", WS_CONFIG_CUSTOM, 0, 0, 0, ws_gw_set_keys_command, NULL, "off" },
	{ "gateway_keys_socket", WS_CONFIG_PATH, AT(gateway.keys_socket), 0, 0, NULL, NULL, "off" },
	{ "gateway_suffix", WS_CONFIG_CUSTOM, 0, 0, 0, ws_gw_set_suffix, NULL, "`.ws`" },
	{ "gateway_grants", WS_CONFIG_CUSTOM, 0, 0, 0, ws_gw_set_grants, NULL, "off" },
	{ "gateway_create", WS_CONFIG_CUSTOM, 0, 0, 0, ws_gw_set_create, "no", NULL },
	{ "gateway_user_limits", WS_CONFIG_CUSTOM, 0, 0, 0, ws_gw_set_user_limits, NULL, "off" },
	{ "gateway_max_per_user", WS_CONFIG_COUNT, AT(gateway.max_per_user), 1, 1000, NULL, "5", NULL },
	{ "gateway_idle_stop", WS_CONFIG_CUSTOM, 0, 0, 0, ws_gw_set_idle_stop, "off", NULL },
	{ "gateway_wake_timeout", WS_CONFIG_CUSTOM, 0, 0, 0, ws_gw_set_wake_timeout, "120", NULL },
	{ "gateway_backend", WS_CONFIG_PATH, AT(gateway.backend), 0, 0, NULL, NULL, "off" },
	{ "gateway_state_dir", WS_CONFIG_PATH, AT(gateway.state_dir), 0, 0, NULL, NULL, "off" },
	{ "gateway_program", WS_CONFIG_PATH, AT(gateway.program), 0, 0, NULL, NULL,
		"`ws-gateway` in the installed `bindir`" },
	{ "gateway_host", WS_CONFIG_CUSTOM, 0, 0, 0, ws_gw_set_host, NULL, "the host's name" },
	{ "gateway_workspace_user", WS_CONFIG_CUSTOM, 0, 0, 0, ws_gw_set_workspace_user, NULL,
		"`developer`" },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

const struct ws_config_key *ws_config_keys(size_t *count) {
	*count = NKEYS;
	return keys;
}

static int set_key(struct ws_config *cfg, const struct ws_config_key *key, const char *value,
		char *why, size_t whylen) {
	void *field = (char *)cfg + key->offset;
	unsigned long n = 0;

	switch (key->kind) {
	case WS_CONFIG_CUSTOM:
		return key->set(cfg, value, why, whylen);
	case WS_CONFIG_BOOL:
		if (parse_bool(value, field) != 0) {
			snprintf(why, whylen, "expected yes or no");
			return -1;
		}
		return 0;
	case WS_CONFIG_PATH:
		if (value[0] != '/') {
			snprintf(why, whylen, "expected an absolute path");
			return -1;
		}
		return ws_config_set_string(field, value, why, whylen);
	case WS_CONFIG_DURATION:
		if (ws_config_parse_scaled(value, duration_units, &n) != 0) {
			snprintf(why, whylen, "expected a duration such as 500ms or 2s");
			return -1;
		}
		break;
	case WS_CONFIG_SIZE:
		if (ws_config_parse_scaled(value, size_units, &n) != 0) {
			snprintf(why, whylen, "expected a size such as 4096, 64K or 1M");
			return -1;
		}
		break;
	case WS_CONFIG_COUNT:
		if (ws_config_parse_scaled(value, count_units, &n) != 0) {
			snprintf(why, whylen, "expected a number");
			return -1;
		}
		break;
	}
	if (n < key->min || n > key->max) {
		snprintf(why, whylen, "%lu is out of range (%lu to %lu%s)", n, key->min, key->max,
			key->kind == WS_CONFIG_DURATION ? " ms" : key->kind == WS_CONFIG_SIZE ? " bytes" : "");
		return -1;
	}
	*(unsigned int *)field = (unsigned int)n;
	return 0;
}

/* The defaults allocate nothing (no row's `def` is a path or a string the
 * setter copies), so ws_config_free() can end by calling this. */
void ws_config_init(struct ws_config *cfg) {
	char why[256];
	size_t k;

	memset(cfg, 0, sizeof(*cfg));
	for (k = 0; k < NKEYS; k++) {
		if (keys[k].def != NULL && set_key(cfg, &keys[k], keys[k].def, why, sizeof(why)) != 0) {
			abort(); /* a row's own default is out of its range: a build error */
		}
	}
}

/* The defaults of string keys are not allocated; ws_env_* read NULL as them. */
void ws_config_free(struct ws_config *cfg) {
	size_t k;
	free(cfg->event_log_path);
	free(cfg->env.socket_url);
	free(cfg->env.client_allow);
	for (k = 0; k < NKEYS; k++) {
		if (keys[k].kind == WS_CONFIG_PATH) {
			free(*(char **)((char *)cfg + keys[k].offset));
		}
	}
	free(cfg->activity_dir);
	ws_gw_config_free(cfg);
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
			|| set_key(cfg, &keys[k], value, why, sizeof(why)) != 0) {
		return fail(err, errlen, "%s:%u: %s: %s", name, lineno, keys[k].name, why);
	}
	return 0;
}

int ws_config_parse(struct ws_config *cfg, const char *name, const char *text,
		size_t len, char *err, size_t errlen) {
	unsigned int seen[NKEYS] = { 0 };
	unsigned int lineno = 0;
	const char *p = text, *end = text + len;
	char why[256];
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
	if (ret == 0 && ws_gw_config_check(cfg, why, sizeof(why)) != 0) {
		ret = fail(err, errlen, "%s: %s", name, why);
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

int ws_user_name_safe(const char *user) {
	return user != NULL && user[0] != '\0' && user[0] != '.' && strchr(user, '/') == NULL
		&& strlen(user) <= 255;
}

int ws_expand_user_path(const char *pattern, const char *user, char *out, size_t outlen) {
	size_t n = 0;
	const char *p;

	for (p = pattern; *p != '\0'; p++) {
		const char *insert = p;
		size_t len = 1;
		if (p[0] == '%' && p[1] == 'u') {
			if (!ws_user_name_safe(user)) {
				return -1;
			}
			insert = user;
			len = strlen(user);
			p++;
		}
		if (n + len >= outlen) {
			return -1;
		}
		memcpy(out + n, insert, len);
		n += len;
	}
	out[n] = '\0';
	return 0;
}
