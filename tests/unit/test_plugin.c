/*
 * test_plugin.c - the library as the server sees it: the entry point, its
 * ABI fields, startup with good and bad configs, and one connection's events.
 */
#include "unit.h"

#include <sys/stat.h>
#include <unistd.h>

#include "ws_hook.h"

static void entry_point_speaks_this_abi(void) {
	const struct ws_hooks *h = ws_hook_entry();
	CHECK(h != NULL);
	CHECK(h->abi_version == WS_HOOK_ABI_VERSION);
	CHECK(h->struct_size == sizeof(struct ws_hooks));
	CHECK_STR(h->name, "ssh-workspace");
	CHECK(h->startup != NULL && h->shutdown != NULL);
	CHECK(WS_HOOK_HAS(h, struct ws_hooks, shutdown));
}

static void startup_refuses_a_bad_config(void) {
	const struct ws_hooks *h = ws_hook_entry();
	void *ctx = NULL;
	char err[512] = "", want[600];
	const char *path = unit_write_file("hooks.conf", "event_log = stderr\nlog_command = no\n", 0644);

	CHECK(h->startup(&ctx, path, 1, err, sizeof(err)) != 0);
	snprintf(want, sizeof(want), "%s:2: unknown key 'log_command'", path);
	CHECK_STR(err, want);
	CHECK(ctx == NULL);

	path = unit_write_file("hooks.conf", "event_log = /nonexistent-dir/x.log\n", 0644);
	CHECK(h->startup(&ctx, path, 1, err, sizeof(err)) != 0);
	CHECK_STR(err, "event_log /nonexistent-dir/x.log: No such file or directory");
}

static void startup_without_a_config_uses_defaults(void) {
	const struct ws_hooks *h = ws_hook_entry();
	void *ctx = NULL;
	char err[64];
	CHECK(h->startup(&ctx, NULL, 0, err, sizeof(err)) == 0);
	CHECK(ctx != NULL);
	if (ctx != NULL) {
		h->shutdown(ctx);
	}
}

/* Starts the library with its events going to `log` and the config lines
 * `extra`; 0 when it started. */
static int start_with(void **ctx, const char *log, const char *extra) {
	char err[512], conf[1024];
	snprintf(conf, sizeof(conf), "event_log = %s\n%s", log, extra);
	if (ws_hook_entry()->startup(ctx, unit_write_file("hooks.conf", conf, 0644), 0, err,
			sizeof(err)) != 0) {
		printf("    startup: %s\n", err);
		return -1;
	}
	return 0;
}

/* Runs one connection's hooks against a library logging to a file;
 * returns the log's text. */
static const char *one_connection(const char *config_extra) {
	const struct ws_hooks *h = ws_hook_entry();
	void *ctx = NULL;
	char log[512];
	struct ws_conn c = { sizeof(c), "0123456789abcdef", "127.0.0.1", "40000",
		NULL, NULL, NULL, 4242 };
	struct ws_session s = { sizeof(s), &c, 0, "exec", "echo \"hi\"\n", NULL, 0 };
	struct ws_exit e = { sizeof(e), 7, 0, 5, 3 };

	snprintf(log, sizeof(log), "%s/events.log", unit_tmpdir());
	if (start_with(&ctx, log, config_extra) != 0) {
		return "";
	}
	h->connect(ctx, &c);
	c.user = "developer";
	c.auth_method = "publickey";
	c.key_fingerprint = "SHA256:abc";
	h->auth_success(ctx, &c);
	h->session_start(ctx, &s, 4243);
	h->agent_socket(ctx, &s, "/tmp/dropbear-x/auth-y-5", 1);
	h->session_exit(ctx, &s, &e);
	h->disconnect(ctx, &c, "Disconnect received");
	h->shutdown(ctx);
	return unit_read_file(log);
}

static void one_connection_logs_each_step(void) {
	const char *text = one_connection("");
	CHECK_CONTAINS(text, "\"event\":\"connect\",\"session\":\"0123456789abcdef\","
		"\"client\":\"127.0.0.1\",\"client_port\":\"40000\",\"pid\":4242}\n");
	CHECK_CONTAINS(text, "\"event\":\"auth\",\"session\":\"0123456789abcdef\","
		"\"user\":\"developer\",\"method\":\"publickey\",\"key_fp\":\"SHA256:abc\","
		"\"client\":\"127.0.0.1\"}\n");
	CHECK_CONTAINS(text, "\"event\":\"session_start\",\"session\":\"0123456789abcdef\","
		"\"user\":\"developer\",\"channel\":0,\"kind\":\"exec\","
		"\"command\":\"echo \\\"hi\\\"\\n\",\"pty\":false,\"pid\":4243}\n");
	CHECK_CONTAINS(text, "\"event\":\"agent_socket\",\"session\":\"0123456789abcdef\","
		"\"user\":\"developer\",\"channel\":0,\"kind\":\"exec\",\"state\":\"open\","
		"\"path\":\"/tmp/dropbear-x/auth-y-5\"}\n");
	CHECK_CONTAINS(text, "\"event\":\"session_exit\",\"session\":\"0123456789abcdef\","
		"\"user\":\"developer\",\"channel\":0,\"kind\":\"exec\",\"status\":7,"
		"\"bytes_in\":5,\"bytes_out\":3}\n");
	CHECK_CONTAINS(text, "\"event\":\"disconnect\",\"session\":\"0123456789abcdef\","
		"\"user\":\"developer\",\"reason\":\"Disconnect received\",\"duration_ms\":");
}

/* Without agent_dir the stable agent path is made in the server's
 * XDG_RUNTIME_DIR (main.c points it at the test's directory), 0700. */
static void the_default_agent_dir_is_in_the_runtime_dir(void) {
	char dir[512];
	struct stat st;

	one_connection("");
	snprintf(dir, sizeof(dir), "%s/ssh-workspace-agent", unit_tmpdir());
	CHECK(lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
}

static void commands_can_be_kept_out_of_the_log(void) {
	const char *text = one_connection("log_commands = no\n");
	CHECK_CONTAINS(text, "\"kind\":\"exec\",\"pty\":false,\"pid\":4243}\n");
	CHECK(strstr(text, "\"command\"") == NULL);
}

/* An activity record that cannot be written (here: its directory is gone;
 * in production a full volume) is said once per connection. */
static void an_unwritable_activity_record_is_logged_once(void) {
	const struct ws_hooks *h = ws_hook_entry();
	void *ctx = NULL;
	char conf[1200], log[512], dir[512], want[1200];
	struct ws_conn c = { sizeof(c), "0123456789abcdef", "127.0.0.1", "40000",
		NULL, NULL, NULL, 4242 };
	struct ws_activity a = { sizeof(a), 1795401041000LL, 1 };
	const char *text, *at;
	int lines = 0;

	snprintf(log, sizeof(log), "%s/events.log", unit_tmpdir());
	snprintf(dir, sizeof(dir), "%s/activity", unit_tmpdir());
	snprintf(conf, sizeof(conf), "activity_dir = %s\n", dir);
	CHECK(mkdir(dir, 0755) == 0);
	if (start_with(&ctx, log, conf) != 0) {
		CHECK(0);
		return;
	}
	CHECK(rmdir(dir) == 0);
	h->connect(ctx, &c);
	c.user = "developer";
	h->auth_success(ctx, &c);
	h->activity(ctx, &c, &a);  /* a channel opened: rewritten at once */
	h->disconnect(ctx, &c, "Disconnect received");
	h->shutdown(ctx);
	text = unit_read_file(log);
	for (at = text; (at = strstr(at, "\"activity_problem\"")) != NULL; at++) {
		lines++;
	}
	CHECK(lines == 1);
	snprintf(want, sizeof(want), "\"event\":\"activity_problem\",\"session\":\"0123456789abcdef\","
		"\"path\":\"%s/0123456789abcdef.json\",\"reason\":\"cannot create: No such file or directory\"}\n",
		dir);
	CHECK_CONTAINS(text, want);
}

/* Client env requests under an allowlist of globs that match anything: a
 * name that breaks the naming rule is still refused (the fuzzer found
 * "-" accepted under "?"), and so are denied names. */
static void client_env_names_follow_the_rules(void) {
	const struct ws_hooks *h = ws_hook_entry();
	void *ctx = NULL;
	char log[512];
	struct ws_conn c = { sizeof(c), "0123456789abcdef", "127.0.0.1", "40000",
		"developer", "publickey", "SHA256:abc", 4242 };
	struct ws_session s = { sizeof(s), &c, 0, "shell", NULL, NULL, 0 };

	snprintf(log, sizeof(log), "%s/events.log", unit_tmpdir());
	if (start_with(&ctx, log, "client_env_allow = \"? *\"\n") != 0) {
		CHECK(0);
		return;
	}
	CHECK(h->client_env(ctx, &s, "EDITOR", "vi") == 1);
	CHECK(h->client_env(ctx, &s, "X", "1") == 1);
	CHECK(h->client_env(ctx, &s, "-", "1") == 0);
	CHECK(h->client_env(ctx, &s, "A-B", "1") == 0);
	CHECK(h->client_env(ctx, &s, "1A", "1") == 0);
	CHECK(h->client_env(ctx, &s, "", "1") == 0);
	CHECK(h->client_env(ctx, &s, "LD_PRELOAD", "/x.so") == 0);
	h->shutdown(ctx);
	CHECK_CONTAINS(unit_read_file(log), "\"name\":\"A-B\",\"reason\":\"invalid name\"}");
	CHECK_CONTAINS(unit_read_file(log), "\"name\":\"LD_PRELOAD\",\"reason\":\"denied name\"}");
}

/* GIT_PROTOCOL under the default allowlist: git's own value is taken, any
 * other is refused with a reason and without the value in the log; an
 * explicit list that names it keeps the value rule, one that does not
 * refuses it. */
static void client_env_git_protocol(void) {
	const struct ws_hooks *h = ws_hook_entry();
	void *ctx = NULL;
	char log[512];
	struct ws_conn c = { sizeof(c), "0123456789abcdef", "127.0.0.1", "40000",
		"developer", "publickey", "SHA256:abc", 4242 };
	struct ws_session s = { sizeof(s), &c, 0, "shell", NULL, NULL, 0 };
	const char *text;

	snprintf(log, sizeof(log), "%s/events.log", unit_tmpdir());
	if (start_with(&ctx, log, "") != 0) {
		CHECK(0);
		return;
	}
	CHECK(h->client_env(ctx, &s, "GIT_PROTOCOL", "version=2") == 1);
	CHECK(h->client_env(ctx, &s, "GIT_PROTOCOL", "version=2;touch-marker") == 0);
	CHECK(h->client_env(ctx, &s, "GIT_PROTOCOL",
		"version=2:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") == 0);
	CHECK(h->client_env(ctx, &s, "GIT_EDITOR", "vi") == 0);
	h->shutdown(ctx);
	text = unit_read_file(log);
	CHECK_CONTAINS(text, "\"name\":\"GIT_PROTOCOL\",\"reason\":"
		"\"value has a character outside [A-Za-z0-9._=:-]\"}");
	CHECK_CONTAINS(text, "\"name\":\"GIT_PROTOCOL\",\"reason\":\"value longer than 128 bytes\"}");
	CHECK_CONTAINS(text, "\"name\":\"GIT_EDITOR\",\"reason\":\"not in client_env_allow\"}");
	CHECK(strstr(text, "touch-marker") == NULL);

	if (start_with(&ctx, log, "client_env_allow = \"LANG GIT_*\"\n") != 0) {
		CHECK(0);
		return;
	}
	CHECK(h->client_env(ctx, &s, "GIT_PROTOCOL", "version=2") == 1);
	CHECK(h->client_env(ctx, &s, "GIT_PROTOCOL", "version=2 x") == 0);
	CHECK(h->client_env(ctx, &s, "GIT_EDITOR", "vi x") == 1);
	h->shutdown(ctx);

	if (start_with(&ctx, log, "client_env_allow = \"LANG TERM\"\n") != 0) {
		CHECK(0);
		return;
	}
	CHECK(h->client_env(ctx, &s, "GIT_PROTOCOL", "version=2") == 0);
	h->shutdown(ctx);
}

/* A key with a forced command or restrict gets no client env (a variable
 * such as SHELLOPTS or PS4 runs code before the forced command), unless
 * client_env_forced_command says so; nor does any key when the server is
 * too old to say.  The names that run code stay refused either way. */
static void client_env_and_forced_commands(void) {
	const struct ws_hooks *h = ws_hook_entry();
	void *ctx = NULL;
	char log[512];
	struct ws_conn c = { sizeof(c), "0123456789abcdef", "127.0.0.1", "40000",
		"developer", "publickey", "SHA256:abc", 4242 };
	struct ws_session s = { sizeof(s), &c, 0, "exec", "id", NULL, WS_KEY_FORCED_COMMAND };

	snprintf(log, sizeof(log), "%s/events.log", unit_tmpdir());
	if (start_with(&ctx, log, "client_env_allow = \"*\"\n") != 0) {
		CHECK(0);
		return;
	}
	CHECK(h->client_env(ctx, &s, "LANG", "C") == 0);
	s.key_options = WS_KEY_RESTRICT;
	CHECK(h->client_env(ctx, &s, "LANG", "C") == 0);
	s.key_options = 0;
	CHECK(h->client_env(ctx, &s, "LANG", "C") == 1);
	CHECK(h->client_env(ctx, &s, "SHELLOPTS", "xtrace") == 0);
	/* a server built before key_options: nothing to go by */
	s.struct_size = (uint32_t)offsetof(struct ws_session, key_options);
	CHECK(h->client_env(ctx, &s, "LANG", "C") == 0);
	h->shutdown(ctx);
	CHECK_CONTAINS(unit_read_file(log),
		"\"name\":\"LANG\",\"reason\":\"the key has a forced command or restrict\"}");
	CHECK_CONTAINS(unit_read_file(log),
		"\"name\":\"LANG\",\"reason\":\"the server does not report the key's options\"}");
	CHECK_CONTAINS(unit_read_file(log), "\"name\":\"SHELLOPTS\",\"reason\":\"denied name\"}");

	s.struct_size = sizeof(s);
	s.key_options = WS_KEY_FORCED_COMMAND | WS_KEY_RESTRICT;
	if (start_with(&ctx, log, "client_env_allow = \"*\"\nclient_env_forced_command = yes\n") != 0) {
		CHECK(0);
		return;
	}
	CHECK(h->client_env(ctx, &s, "LANG", "C") == 1);
	CHECK(h->client_env(ctx, &s, "PS4", "$(id)") == 0);
	CHECK(h->client_env(ctx, &s, "BASH_ENV", "/tmp/x") == 0);
	h->shutdown(ctx);
}

/* What the server refuses itself reaches the log too, its name escaped and
 * cut: a client may send NULs, bytes that are not UTF-8, or a long name. */
static void server_refused_client_env_is_logged(void) {
	const struct ws_hooks *h = ws_hook_entry();
	void *ctx = NULL;
	char log[512], long_name[300];
	struct ws_conn c = { sizeof(c), "0123456789abcdef", "127.0.0.1", "40000",
		"developer", "publickey", "SHA256:abc", 4242 };
	struct ws_session s = { sizeof(s), &c, 0, "shell", NULL, NULL, 0 };
	const char *text;

	if (!WS_HOOK_HAS(h, struct ws_hooks, client_env_refused) || h->client_env_refused == NULL) {
		CHECK(!"the library takes the server's refusals");
		return;
	}
	snprintf(log, sizeof(log), "%s/events.log", unit_tmpdir());
	if (start_with(&ctx, log, "") != 0) {
		CHECK(0);
		return;
	}
	memset(long_name, 'N', sizeof(long_name));
	h->client_env_refused(ctx, &s, "A\0B", 3, "invalid name");
	h->client_env_refused(ctx, &s, "\xff\\\"=", 4, "invalid name");
	h->client_env_refused(ctx, &s, "", 0, "invalid name");
	h->client_env_refused(ctx, &s, long_name, sizeof(long_name), "invalid name");
	h->client_env_refused(ctx, &s, "LANG", 4, "NUL byte in value");
	h->shutdown(ctx);
	text = unit_read_file(log);
	CHECK_CONTAINS(text, "\"name\":\"A\\\\x00B\",\"reason\":\"invalid name\"}");
	CHECK_CONTAINS(text, "\"name\":\"\\\\xff\\\\x5c\\\"=\",\"reason\":\"invalid name\"}");
	CHECK_CONTAINS(text, "\"name\":\"\",\"reason\":\"invalid name\"}");
	CHECK_CONTAINS(text, "\"name\":\"NNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNN...\"");
	CHECK(strstr(text, "NNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNN") == NULL);
	CHECK_CONTAINS(text, "\"name\":\"LANG\",\"reason\":\"NUL byte in value\"}");
}

UNIT_SUITE(plugin_tests) = {
	{ "plugin: entry point speaks this ABI", entry_point_speaks_this_abi },
	{ "plugin: startup refuses a bad config", startup_refuses_a_bad_config },
	{ "plugin: startup without a config", startup_without_a_config_uses_defaults },
	{ "plugin: one connection logs each step", one_connection_logs_each_step },
	{ "plugin: the default agent_dir is in the runtime dir", the_default_agent_dir_is_in_the_runtime_dir },
	{ "plugin: log_commands = no", commands_can_be_kept_out_of_the_log },
	{ "plugin: an unwritable activity record is logged once", an_unwritable_activity_record_is_logged_once },
	{ "plugin: client env names follow the rules", client_env_names_follow_the_rules },
	{ "plugin: client env GIT_PROTOCOL", client_env_git_protocol },
	{ "plugin: client env and forced commands", client_env_and_forced_commands },
	{ "plugin: client env the server refused is logged", server_refused_client_env_is_logged },
	UNIT_END
};
