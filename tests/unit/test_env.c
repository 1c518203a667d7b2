/*
 * test_env.c - the environment fetcher's rules, parsers and sources.
 */
#define _GNU_SOURCE
#include "unit.h"

#include <stdlib.h>

#include "config.h"
#include "envlist.h"
#include "envparse.h"

static struct ws_env_config default_env(void) {
	struct ws_config cfg;
	ws_config_init(&cfg);
	return cfg.env;
}

/* Renders a list as "A=1;B=2;" for comparisons. */
static const char *dump(const struct ws_envlist *list) {
	static char out[8192];
	size_t n = 0;
	unsigned int i;
	out[0] = '\0';
	for (i = 0; i < list->count && n < sizeof(out); i++) {
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s=%s;", list->vars[i].name,
			list->vars[i].value);
	}
	return out;
}

static void names_and_denylist(void) {
	struct ws_env_config cfg = default_env();
	CHECK(ws_env_name_valid("_a1", 3));
	CHECK(ws_env_name_valid("GIT_AUTHOR_NAME", 15));
	CHECK(!ws_env_name_valid("1A", 2));
	CHECK(!ws_env_name_valid("A-B", 3));
	CHECK(!ws_env_name_valid("", 0));
	CHECK(!ws_env_name_valid("A\0B", 3));
	CHECK(ws_env_name_denied(&cfg, "LD_PRELOAD"));
	CHECK(ws_env_name_denied(&cfg, "SSH_AUTH_SOCK"));
	CHECK(ws_env_name_denied(&cfg, "HOME") && ws_env_name_denied(&cfg, "SHELL"));
	CHECK(ws_env_name_denied(&cfg, "USER") && ws_env_name_denied(&cfg, "LOGNAME"));
	CHECK(ws_env_name_denied(&cfg, "PATH"));
	CHECK(!ws_env_name_denied(&cfg, "HOMER") && !ws_env_name_denied(&cfg, "XLD_X"));
	{
		/* what a shell or the loader runs code from */
		static const char *const code[] = { "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS",
			"PS4", "PS1", "PROMPT_COMMAND", "IFS", "GCONV_PATH", "LOCPATH", "NLSPATH",
			"GLIBC_TUNABLES", "LD_AUDIT" };
		size_t i;
		for (i = 0; i < sizeof(code) / sizeof(code[0]); i++) {
			CHECK(ws_env_name_denied(&cfg, code[i]));
		}
		CHECK(!ws_env_name_denied(&cfg, "ENVIRONMENT") && !ws_env_name_denied(&cfg, "PS5"));
	}
	cfg.allow_path = 1;
	CHECK(!ws_env_name_denied(&cfg, "PATH"));
	CHECK(ws_env_name_denied(&cfg, "LD_LIBRARY_PATH"));
}

static void client_allowlist_globs(void) {
	CHECK(ws_env_client_allowed(NULL, "LANG"));
	CHECK(ws_env_client_allowed(NULL, "LC_ALL"));
	CHECK(ws_env_client_allowed(NULL, "TERM") && ws_env_client_allowed(NULL, "TZ"));
	CHECK(ws_env_client_allowed(NULL, "COLORTERM"));
	CHECK(!ws_env_client_allowed(NULL, "FOO"));
	CHECK(!ws_env_client_allowed(NULL, "LANGUAGE"));
	CHECK(ws_env_client_allowed("FOO  GIT_*", "GIT_EDITOR"));
	CHECK(ws_env_client_allowed("FOO  GIT_*", "FOO"));
	CHECK(!ws_env_client_allowed("FOO  GIT_*", "LANG"));
	CHECK(!ws_env_client_allowed("", "LANG"));
	/* git's protocol v2 request; an explicit list replaces the default */
	CHECK(ws_env_client_allowed(NULL, "GIT_PROTOCOL"));
	CHECK(!ws_env_client_allowed(NULL, "GIT_EDITOR"));
	CHECK(!ws_env_client_allowed("LANG TERM", "GIT_PROTOCOL"));
}

static void client_value_rules(void) {
	static const char *const refused[] = {
		"version=2 ", "version 2", "version=2\n", "version=2;id", "version=$(id)",
		"version=`id`", "version=2/x", "v\xc3\xa9rsion=2", "\t", "a,b", "a\"b",
	};
	char longest[129], over[130];
	size_t i;

	CHECK(ws_env_client_value_refusal("GIT_PROTOCOL", "version=2") == NULL);
	CHECK(ws_env_client_value_refusal("GIT_PROTOCOL", "version=1") == NULL);
	CHECK(ws_env_client_value_refusal("GIT_PROTOCOL", "version=2:object-format=sha256") == NULL);
	CHECK(ws_env_client_value_refusal("GIT_PROTOCOL", "key:A-Z.a_z=0-9") == NULL);
	CHECK(ws_env_client_value_refusal("GIT_PROTOCOL", "") == NULL);
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		CHECK_STR(ws_env_client_value_refusal("GIT_PROTOCOL", refused[i]),
			"value has a character outside [A-Za-z0-9._=:-]");
	}
	memset(longest, 'v', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	CHECK(ws_env_client_value_refusal("GIT_PROTOCOL", longest) == NULL);
	memset(over, 'v', sizeof(over) - 1);
	over[sizeof(over) - 1] = '\0';
	CHECK_STR(ws_env_client_value_refusal("GIT_PROTOCOL", over), "value longer than 128 bytes");
	/* the rule is GIT_PROTOCOL's alone: other names take any value */
	CHECK(ws_env_client_value_refusal("LANG", "version 2; id") == NULL);
	CHECK(ws_env_client_value_refusal("GIT_PROTOCOLS", "a b") == NULL);
	CHECK(ws_env_client_value_refusal("git_protocol", "a b") == NULL);
}

static void list_rules_and_caps(void) {
	struct ws_env_config cfg = default_env();
	struct ws_envlist list, copy;

	cfg.max_vars = 3;
	cfg.max_bytes = 20;
	cfg.value_max = 8;
	ws_envlist_init(&list);
	ws_envlist_init(&copy);
	CHECK(ws_envlist_put(&list, &cfg, "A", 1, "1", 1) == WS_ENV_OK);
	CHECK(ws_envlist_put(&list, &cfg, "A", 1, "2", 1) == WS_ENV_OK); /* later wins */
	CHECK(ws_envlist_put(&list, &cfg, "B", 1, "x\0y", 3) == WS_ENV_NUL);
	CHECK(ws_envlist_put(&list, &cfg, "C", 1, "123456789", 9) == WS_ENV_TOO_LONG);
	CHECK(ws_envlist_put(&list, &cfg, "LD_PRELOAD", 10, "/x.so", 5) == WS_ENV_DENIED);
	CHECK(ws_envlist_put(&list, &cfg, "a-b", 3, "", 0) == WS_ENV_BAD_NAME);
	CHECK(ws_envlist_put(&list, &cfg, "D", 1, "12345678", 8) == WS_ENV_OK);  /* 3 + 10 bytes */
	CHECK(ws_envlist_put(&list, &cfg, "E", 1, "12345678", 8) == WS_ENV_TOO_BIG);
	CHECK(ws_envlist_put(&list, &cfg, "E", 1, "1", 1) == WS_ENV_OK);         /* 16 bytes */
	CHECK(ws_envlist_put(&list, &cfg, "F", 1, "", 0) == WS_ENV_TOO_MANY);
	CHECK_STR(dump(&list), "A=2;D=12345678;E=1;");
	CHECK(list.bytes == 16 && list.taken == 4 && list.rejected == 6);
	CHECK_STR(list.rejected_names, "B (NUL byte in value), C (value too long), "
		"LD_PRELOAD (denied name), a-b (invalid name), E (environment too large), "
		"F (too many variables)");
	CHECK(ws_envlist_copy(&copy, &list) == 0);
	CHECK_STR(dump(&copy), "A=2;D=12345678;E=1;");
	CHECK(copy.bytes == 16 && copy.taken == 0 && copy.rejected == 0);
	CHECK_STR(ws_envlist_get(&copy, "D"), "12345678");
	ws_envlist_free(&list);
	ws_envlist_free(&copy);
}

struct collected {
	struct ws_envlist list;
	struct ws_env_config cfg;
};

static void collect(void *ctx, const char *name, size_t nlen, const char *value, size_t vlen) {
	struct collected *c = ctx;
	ws_envlist_put(&c->list, &c->cfg, name, nlen, value, vlen);
}

typedef int (*parser_fn)(const char *, size_t, ws_env_emit_fn, void *, char *, size_t);

/* Parses text; returns the variables, or "error: ..." */
static const char *parse_with(parser_fn parse, const char *text, size_t len) {
	static char out[8192];
	struct collected c;
	char err[256];
	ws_envlist_init(&c.list);
	c.cfg = default_env();
	if (parse(text, len, collect, &c, err, sizeof(err)) != 0) {
		snprintf(out, sizeof(out), "error: %s", err);
	} else {
		snprintf(out, sizeof(out), "%s", dump(&c.list));
	}
	ws_envlist_free(&c.list);
	return out;
}
#define PARSE(fn, text) parse_with(fn, text, sizeof(text) - 1)

static void dotenv_syntax(void) {
	CHECK_STR(PARSE(ws_parse_dotenv,
		"# comment\n"
		"\n"
		"PLAIN=value with spaces   # comment\n"
		"export EXPORTED = yes\r\n"
		"HASH=a#b\n"
		"SINGLE='no $ \\n escapes' # c\n"
		"DOUBLE=\"tab\\there \\\"q\\\" \\$ \\\\ \\x\"\n"
		"MULTI=\"line1\n"
		"line2\"\n"
		"EMPTY=\n"
		"   INDENTED=1\n"
		"LAST=end"),
		"PLAIN=value with spaces;EXPORTED=yes;HASH=a#b;SINGLE=no $ \\n escapes;"
		"DOUBLE=tab\there \"q\" $ \\ \\x;MULTI=line1\nline2;EMPTY=;INDENTED=1;LAST=end;");
	/* a denied name is the rules' business: skipped, the rest is used */
	CHECK_STR(PARSE(ws_parse_dotenv, "LD_PRELOAD=y\nOK=z\n"), "OK=z;");
}

/* A helper's malformed lines: the source fails, and the error says where
 * and why without a byte of the line (it may be a secret). */
static void malformed_lines_are_not_quoted(void) {
	static const char *const secret_lines[] = {
		"DATABASE_URL: postgres://app:S3cretPassw0rd@db:5432/app?sslmode=require\n",
		"API_SECRET_B64 dGhpcyBpcyBhIHNlY3JldA==\n",
		"-S3cretPassw0rd=x\n",
		"NAME WITH S3cretPassw0rd=x\n",
	};
	char text[256];
	size_t i;
	for (i = 0; i < sizeof(secret_lines) / sizeof(secret_lines[0]); i++) {
		const char *got;
		snprintf(text, sizeof(text), "A=1\n%s", secret_lines[i]);
		got = parse_with(ws_parse_lines, text, strlen(text));
		CHECK(strncmp(got, "error: line 2: ", 15) == 0);
		CHECK(strstr(got, "S3cret") == NULL && strstr(got, "dGhp") == NULL);
		got = parse_with(ws_parse_dotenv, text, strlen(text));
		CHECK(strncmp(got, "error: line 2: ", 15) == 0);
		CHECK(strstr(got, "S3cret") == NULL && strstr(got, "dGhp") == NULL);
	}
	CHECK_STR(PARSE(ws_parse_lines, "A=1\nA\0B=2\n"), "error: line 2: invalid variable name");
	CHECK_STR(PARSE(ws_parse_json_object, "{\"postgres://u:S3cret@db\": \"1\"}"),
		"error: entry 1: invalid variable name");
}

static void helper_lines(void) {
	CHECK_STR(PARSE(ws_parse_lines, "A=1\r\n\nB= spaced = x \nC=\n"), "A=1;B= spaced = x ;C=;");
	CHECK_STR(PARSE(ws_parse_lines, "A=x\0y\nB=2\n"), "B=2;");
}

static void json_objects(void) {
	CHECK_STR(PARSE(ws_parse_json_object,
		" {\"A\": \"1\", \"B\":\"q\\\"\\\\\\/\\b\\f\\n\\r\\t\",\n \"C\":\"\\u00e9\\u20ac\\ud83d\\ude00\","
		"\"A\":\"2\"} \n"),
		"A=2;B=q\"\\/\b\f\n\r\t;C=\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80;");
	CHECK_STR(PARSE(ws_parse_json_object, "{}"), "");
	/* a NUL in a value drops that variable only */
	CHECK_STR(PARSE(ws_parse_json_object, "{\"A\":\"x\\u0000y\",\"D\":\"2\"}"), "D=2;");
}

/* Input a source must not be used from, and why. */
static void syntax_errors(void) {
	static const struct {
		parser_fn parse;
		const char *text, *error;
	} cases[] = {
		{ ws_parse_dotenv, "A=1\nno equals sign\n", "line 2: expected NAME=VALUE" },
		{ ws_parse_dotenv, "A=1\nB='open\n\n", "line 2: unterminated single quote" },
		{ ws_parse_dotenv, "A=\"x\" y\n", "line 1: unexpected text after the closing quote" },
		{ ws_parse_dotenv, "A B=1\n", "line 1: expected NAME=VALUE" },
		{ ws_parse_lines, "A=1\ngarbage\n", "line 2: expected NAME=VALUE" },
		{ ws_parse_lines, "=1\n", "line 1: expected NAME=VALUE" },
		{ ws_parse_json_object, "[]", "not a JSON object" },
		{ ws_parse_json_object, "", "not a JSON object" },
		{ ws_parse_json_object, "{\"A\": 1}", "the value of \"A\" is not a string" },
		{ ws_parse_json_object, "{\"A\": \"1\"} x", "text after the JSON object" },
		{ ws_parse_json_object, "{\"A\": \"1\"", "expected ',' or '}'" },
		{ ws_parse_json_object, "{\"A\": \"\\q\"}", "bad escape in a string" },
		{ ws_parse_json_object, "{\"A\": \"\\ud800\"}", "bad \\u escape" },
		{ ws_parse_json_object, "{\"A\": \"a\nb\"}", "control character inside a string" },
		{ ws_parse_json_object, "{\"A\": \"unterminated", "unterminated string" },
		/* a name that is not one is a malformed line: the source fails */
		{ ws_parse_dotenv, "A=1\n1A=x\n", "line 2: invalid variable name" },
		{ ws_parse_dotenv, "export A-B=1\n", "line 1: invalid variable name" },
		{ ws_parse_json_object, "{\"A\": \"1\", \"B-C\": \"1\"}", "entry 2: invalid variable name" },
		{ ws_parse_json_object, "{\"\": \"1\"}", "entry 1: invalid variable name" },
	};
	char want[256];
	size_t i;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(want, sizeof(want), "error: %s", cases[i].error);
		CHECK_STR(parse_with(cases[i].parse, cases[i].text, strlen(cases[i].text)), want);
	}
}

static void config_env_keys(void) {
	static const char *const bad[][2] = {
		{ "env_max_bytes = 1M", "c:1: env_max_bytes: 1048576 is out of range (64 to 262144 bytes)" },
		{ "env_max_vars = 0", "c:1: env_max_vars: 0 is out of range (1 to 256)" },
		{ "env_max_vars = 10K", "c:1: env_max_vars: expected a number" },
		{ "env_command_timeout = 5", "c:1: env_command_timeout: expected a duration such as 500ms or 2s" },
		{ "env_command_timeout = 61s", "c:1: env_command_timeout: 61000 is out of range (10 to 60000 ms)" },
		{ "env_output_max = 12Q", "c:1: env_output_max: expected a size such as 4096, 64K or 1M" },
		{ "env_dir = relative/dir", "c:1: env_dir: expected an absolute path" },
		{ "env_socket_url = /x?u=%x", "c:1: env_socket_url: unknown expansion '%x' (known: %u %s %a %f %%)" },
		{ "env_socket_url = env", "c:1: env_socket_url: expected a request path starting with /" },
		{ "env_on_failure = maybe", "c:1: env_on_failure: expected open or closed" },
		{ "client_env_allow = LANG;rm", "c:1: client_env_allow: ';' cannot be part of a variable name or glob" },
	};
	const char *text =
		"env_dir = /etc/ws/env\n"
		"env_file = /etc/ws/%u.env\n"
		"env_command = /usr/local/bin/env-helper\n"
		"env_command_timeout = 500ms\n"
		"env_socket = /run/env.sock\n"
		"env_socket_url = /env/%u?s=%s&a=%a&f=%f&p=%%\n"
		"env_socket_timeout = 3s\n"
		"env_output_max = 64K\n"
		"env_max_vars = 10\n"
		"env_max_bytes = 256K\n"
		"env_value_max = 4096\n"
		"env_allow_path = yes\n"
		"env_on_failure = closed\n"
		"client_env_allow = \"LANG LC_* GIT_[A-Z]*\"\n";
	struct ws_config cfg;
	char err[512] = "";
	size_t i;

	ws_config_init(&cfg);
	CHECK(ws_config_parse(&cfg, "c", text, strlen(text), err, sizeof(err)) == 0);
	CHECK_STR(err, "");
	CHECK_STR(cfg.env.dir, "/etc/ws/env");
	CHECK_STR(cfg.env.file, "/etc/ws/%u.env");
	CHECK_STR(cfg.env.command, "/usr/local/bin/env-helper");
	CHECK(cfg.env.command_timeout_ms == 500 && cfg.env.socket_timeout_ms == 3000);
	CHECK_STR(cfg.env.socket, "/run/env.sock");
	CHECK_STR(cfg.env.socket_url, "/env/%u?s=%s&a=%a&f=%f&p=%%");
	CHECK(cfg.env.output_max == 65536 && cfg.env.max_vars == 10);
	CHECK(cfg.env.max_bytes == 262144 && cfg.env.value_max == 4096);
	CHECK(cfg.env.allow_path == 1 && cfg.env.fail_closed == 1);
	CHECK_STR(cfg.env.client_allow, "LANG LC_* GIT_[A-Z]*");
	ws_config_free(&cfg);
	CHECK(cfg.env.dir == NULL && cfg.env.max_vars == 128 && cfg.env.fail_closed == 0);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ws_config_init(&cfg);
		err[0] = '\0';
		CHECK(ws_config_parse(&cfg, "c", bad[i][0], strlen(bad[i][0]), err, sizeof(err)) != 0);
		CHECK_STR(err, bad[i][1]);
		ws_config_free(&cfg);
	}
}

UNIT_SUITE(env_tests) = {
	{ "env: names and denylist", names_and_denylist },
	{ "env: client allowlist globs", client_allowlist_globs },
	{ "env: client value rules", client_value_rules },
	{ "env: list rules and caps", list_rules_and_caps },
	{ "env: dotenv syntax", dotenv_syntax },
	{ "env: helper lines", helper_lines },
	{ "env: JSON objects", json_objects },
	{ "env: syntax errors", syntax_errors },
	{ "env: malformed lines are not quoted", malformed_lines_are_not_quoted },
	{ "env: config keys", config_env_keys },
	UNIT_END
};
