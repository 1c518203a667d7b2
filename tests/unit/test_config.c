/*
 * test_config.c - the hook library's config reader.
 */
#include "unit.h"

#include <stdlib.h>

#include "config.h"

/* Parses text; returns the error message ("" on success).  Shared by the
 * suites that test config keys (unit.h). */
const char *unit_parse_config(struct ws_config *cfg, const char *text) {
	static char err[512];
	err[0] = '\0';
	ws_config_init(cfg);
	if (ws_config_parse(cfg, "hooks.conf", text, strlen(text), err, sizeof(err)) == 0) {
		err[0] = '\0';
	} else if (err[0] == '\0') {
		strcpy(err, "(failed without a reason)");
	}
	return err;
}

static void defaults(void) {
	struct ws_config cfg;
	CHECK_STR(unit_parse_config(&cfg, ""), "");
	CHECK(cfg.event_log == WS_EVENT_LOG_STDERR);
	CHECK(cfg.log_commands == 1);
	CHECK(cfg.event_log_path == NULL);
	CHECK(cfg.activity_dir == NULL);
	CHECK(cfg.activity_interval == 10);
	ws_config_free(&cfg);
}

static void activity_settings(void) {
	struct ws_config cfg;
	CHECK_STR(unit_parse_config(&cfg, "activity_dir = /run/ws/activity\nactivity_interval = 3600\n"),
		"");
	CHECK_STR(cfg.activity_dir, "/run/ws/activity");
	CHECK(cfg.activity_interval == 3600);
	ws_config_free(&cfg);
	CHECK_STR(unit_parse_config(&cfg, "activity_dir = off\nactivity_interval = 1\n"), "");
	CHECK(cfg.activity_dir == NULL);
	CHECK(cfg.activity_interval == 1);
	ws_config_free(&cfg);
}

static void full_file_with_comments_quotes_and_crlf(void) {
	struct ws_config cfg;
	CHECK_STR(unit_parse_config(&cfg,
		"# a comment\n"
		"\n"
		"   event_log   =   \"/var/log/ws \\\"events\\\".log\"   # trailing comment\r\n"
		"\tlog_commands=no\n"), "");
	CHECK(cfg.event_log == WS_EVENT_LOG_FILE);
	CHECK_STR(cfg.event_log_path, "/var/log/ws \"events\".log");
	CHECK(cfg.log_commands == 0);
	ws_config_free(&cfg);
}

static void bare_value_keeps_inner_hash_and_drops_comment(void) {
	struct ws_config cfg;
	CHECK_STR(unit_parse_config(&cfg, "event_log = /tmp/a#b # comment"), "");
	CHECK_STR(cfg.event_log_path, "/tmp/a#b");
	ws_config_free(&cfg);
}

static void booleans(void) {
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	struct ws_config cfg;
	char line[64];
	size_t i;
	for (i = 0; i < 4; i++) {
		snprintf(line, sizeof(line), "log_commands = %s\n", no[i]);
		CHECK_STR(unit_parse_config(&cfg, line), "");
		CHECK(cfg.log_commands == 0);
		snprintf(line, sizeof(line), "log_commands = %s\n", yes[i]);
		CHECK_STR(unit_parse_config(&cfg, line), "");
		CHECK(cfg.log_commands == 1);
	}
	CHECK_STR(unit_parse_config(&cfg, "log_commands = maybe"),
		"hooks.conf:1: log_commands: expected yes or no");
}

static void errors_name_file_line_and_reason(void) {
	static const struct { const char *text, *error; } cases[] = {
		{ "event_log = off\nevnet_log = stderr\n", "hooks.conf:2: unknown key 'evnet_log'" },
		{ "event_log = off\n\nevent_log = stderr\n",
			"hooks.conf:3: 'event_log' is already set on line 1" },
		{ "event_log = syslog\n",
			"hooks.conf:1: event_log: expected stderr, off or an absolute file path" },
		{ "event_log = relative/path\n",
			"hooks.conf:1: event_log: expected stderr, off or an absolute file path" },
		{ "event_log\n", "hooks.conf:1: expected 'key = value'" },
		{ "= off\n", "hooks.conf:1: expected 'key = value'" },
		{ "Event_Log = off\n", "hooks.conf:1: expected 'key = value'" },
		{ "event_log =\n", "hooks.conf:1: event_log: no value (write \"\" for an empty one)" },
		{ "event_log = \"/tmp/x\n", "hooks.conf:1: event_log: unterminated quoted value" },
		{ "event_log = \"/tmp/x\" y\n",
			"hooks.conf:1: event_log: unexpected text after the quoted value" },
		{ "event_log = /tmp/\x01x\n", "hooks.conf:1: control character in line" },
		{ "activity_dir = run/activity\n",
			"hooks.conf:1: activity_dir: expected off or an absolute directory path" },
		{ "activity_interval = 0\n",
			"hooks.conf:1: activity_interval: 0 is out of range (1 to 3600)" },
		{ "activity_interval = 10s\n", "hooks.conf:1: activity_interval: expected a number" },
		{ "activity_interval = -1\n", "hooks.conf:1: activity_interval: expected a number" },
	};
	struct ws_config cfg;
	size_t i;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_STR(unit_parse_config(&cfg, cases[i].text), cases[i].error);
	}
}

static void an_error_leaves_the_defaults(void) {
	struct ws_config cfg;
	CHECK(unit_parse_config(&cfg, "event_log = /tmp/x\nlog_commands = no\nbogus = 1\n")[0] != '\0');
	CHECK(cfg.event_log == WS_EVENT_LOG_STDERR);
	CHECK(cfg.event_log_path == NULL);
	CHECK(cfg.log_commands == 1);
}

static void limits_on_size_lines_and_nul(void) {
	struct ws_config cfg;
	char err[256];
	size_t n = WS_CONFIG_MAX_LINE + 20;
	char *big = malloc(WS_CONFIG_MAX_BYTES + 2);

	memset(big, '#', n);
	big[n] = '\0';
	CHECK_STR(unit_parse_config(&cfg, big), "hooks.conf:1: line longer than 4096 bytes");
	memset(big, '\n', WS_CONFIG_MAX_BYTES + 1);
	ws_config_init(&cfg);
	CHECK(ws_config_parse(&cfg, "big", big, WS_CONFIG_MAX_BYTES + 1, err, sizeof(err)) == -1);
	CHECK_STR(err, "big: larger than 65536 bytes");
	static const char nul[] = "event_log = off\n# a\0b\n";
	CHECK(ws_config_parse(&cfg, "nul", nul, sizeof(nul) - 1, err, sizeof(err)) == -1);
	CHECK_STR(err, "nul:2: NUL byte in line");
	free(big);
}

static void load_from_files(void) {
	struct ws_config cfg;
	char err[512], want[600];
	const char *path;

	ws_config_init(&cfg);
	path = unit_write_file("ok.conf", "event_log = off\n", 0644);
	CHECK(ws_config_load(&cfg, path, err, sizeof(err)) == 0);
	CHECK(cfg.event_log == WS_EVENT_LOG_OFF);

	path = unit_write_file("bad.conf", "x = 1\n", 0600);
	CHECK(ws_config_load(&cfg, path, err, sizeof(err)) == -1);
	snprintf(want, sizeof(want), "%s:1: unknown key 'x'", path);
	CHECK_STR(err, want);

	path = unit_write_file("open.conf", "event_log = off\n", 0666);
	CHECK(ws_config_load(&cfg, path, err, sizeof(err)) == -1);
	snprintf(want, sizeof(want), "%s: writable by everyone; refusing it", path);
	CHECK_STR(err, want);

	snprintf(want, sizeof(want), "%s/missing.conf", unit_tmpdir());
	CHECK(ws_config_load(&cfg, want, err, sizeof(err)) == -1);
	CHECK_CONTAINS(err, "missing.conf: No such file or directory");

	CHECK(ws_config_load(&cfg, unit_tmpdir(), err, sizeof(err)) == -1);
	CHECK_CONTAINS(err, ": not a regular file");
	ws_config_free(&cfg);
}

UNIT_SUITE(config_tests) = {
	{ "config: defaults", defaults },
	{ "config: comments, quotes, CRLF", full_file_with_comments_quotes_and_crlf },
	{ "config: '#' inside a bare value", bare_value_keeps_inner_hash_and_drops_comment },
	{ "config: booleans", booleans },
	{ "config: activity_dir and activity_interval", activity_settings },
	{ "config: errors name file, line, reason", errors_name_file_line_and_reason },
	{ "config: an error leaves the defaults", an_error_leaves_the_defaults },
	{ "config: size, line and NUL limits", limits_on_size_lines_and_nul },
	{ "config: load from files", load_from_files },
	UNIT_END
};
