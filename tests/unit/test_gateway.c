/*
 * test_gateway.c - the gateway role's rules: names, ownership, grants, the
 * users' key sources, its config keys, and the library's gateway callbacks
 * as the server calls them.
 */
#include "unit.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "gateway.h"
#include "ws_hook.h"

static void names_are_dns_labels(void) {
	char long_name[80];
	CHECK(ws_gw_name_valid("alice"));
	CHECK(ws_gw_name_valid("a"));
	CHECK(ws_gw_name_valid("alice-dev-2"));
	CHECK(ws_gw_name_valid("0x"));
	CHECK(!ws_gw_name_valid(""));
	CHECK(!ws_gw_name_valid("-alice"));
	CHECK(!ws_gw_name_valid("alice-"));
	CHECK(!ws_gw_name_valid("Alice"));
	CHECK(!ws_gw_name_valid("al_ice"));
	CHECK(!ws_gw_name_valid("a.b"));
	CHECK(!ws_gw_name_valid("../x"));
	CHECK(!ws_gw_name_valid("a b"));
	memset(long_name, 'a', 63);
	long_name[63] = '\0';
	CHECK(ws_gw_name_valid(long_name));
	long_name[63] = 'a';
	long_name[64] = '\0';
	CHECK(!ws_gw_name_valid(long_name));
}

static void a_user_owns_its_name_and_its_dash_names(void) {
	CHECK(ws_gw_owns("alice", "alice"));
	CHECK(ws_gw_owns("alice", "alice-dev"));
	CHECK(ws_gw_owns("alice", "alice-x-y"));
	CHECK(!ws_gw_owns("alice", "alicex"));
	CHECK(!ws_gw_owns("alice", "alic"));
	CHECK(!ws_gw_owns("alice", "bob"));
	CHECK(!ws_gw_owns("alice", "bob-alice"));
	CHECK(!ws_gw_owns("alice", "alice-"));
	CHECK(!ws_gw_owns("Alice", "Alice"));
	CHECK(!ws_gw_owns("", ""));
}

/* A user name has no '-': bob owns bob-*, so "bob-ci" as a user would be
 * owned by bob, who could remove it, stop it or create it first with his
 * keys for bob-ci's jumps to land on. */
static void user_names_have_no_dash(void) {
	char long_name[40];
	CHECK(ws_gw_user_valid("alice"));
	CHECK(ws_gw_user_valid("bob2"));
	CHECK(ws_gw_user_valid("0"));
	CHECK(!ws_gw_user_valid("bob-ci"));
	CHECK(!ws_gw_user_valid(""));
	CHECK(!ws_gw_user_valid("Bob"));
	CHECK(!ws_gw_user_valid("b.c"));
	CHECK(!ws_gw_user_valid(NULL));
	memset(long_name, 'a', 32);
	long_name[32] = '\0';
	CHECK(ws_gw_user_valid(long_name));
	long_name[32] = 'a';
	long_name[33] = '\0';
	CHECK(!ws_gw_user_valid(long_name));
	/* nobody owns anything by a '-' user name */
	CHECK(ws_gw_owns("bob", "bob-ci"));
	CHECK(!ws_gw_owns("bob-ci", "bob-ci"));
	CHECK(!ws_gw_owns("bob-ci", "bob-ci-x"));
}

static int grants(const char *text, const char *user, const char *name, char *why) {
	return ws_gw_grants_allow(text, strlen(text), user, name, why, 256);
}

static void grants_lines(void) {
	const char *text = "# who may use what\n\nbob alice-dev\ncarol *\r\n  dave   erin  \n";
	char why[256] = "";
	CHECK(grants(text, "bob", "alice-dev", why) == 1);
	CHECK(grants(text, "bob", "alice", why) == 0);
	CHECK(grants(text, "carol", "anything", why) == 1);
	CHECK(grants(text, "dave", "erin", why) == 1);
	CHECK(grants(text, "erin", "dave", why) == 0);
	CHECK(grants("", "bob", "alice", why) == 0);
	/* a broken line refuses the whole file, wherever it is */
	CHECK(grants("bob alice\nbob\n", "bob", "alice", why) == -1);
	CHECK_STR(why, "line 2: expected 'USER NAME' (USER a user name, NAME a workspace "
		"name or *)");
	CHECK(grants("bob alice extra\n", "bob", "alice", why) == -1);
	CHECK(grants("Bob alice\n", "bob", "alice", why) == -1);
	CHECK(grants("bob ../etc\n", "bob", "alice", why) == -1);
	CHECK(grants("* alice\n", "bob", "alice", why) == -1);
	CHECK(grants("bob-ci alice\n", "bob", "alice", why) == -1); /* not a user */
}

static void destinations_name_workspaces(void) {
	char name[64];
	CHECK(ws_gw_parse_host("alice.ws", NULL, name, sizeof(name)) == 0);
	CHECK_STR(name, "alice");
	CHECK(ws_gw_parse_host("alice-dev", NULL, name, sizeof(name)) == 0);
	CHECK_STR(name, "alice-dev");
	CHECK(ws_gw_parse_host("alice.dev.example", ".dev.example", name, sizeof(name)) == 0);
	CHECK_STR(name, "alice");
	CHECK(ws_gw_parse_host("alice.ws", ".dev.example", name, sizeof(name)) == -1);
	CHECK_STR(name, "alice.ws");
	CHECK(ws_gw_parse_host(".ws", NULL, name, sizeof(name)) == -1);
	CHECK(ws_gw_parse_host("127.0.0.1", NULL, name, sizeof(name)) == -1);
	CHECK_STR(name, "127.0.0.1");
	CHECK(ws_gw_parse_host("evil\x1b[2J'x", NULL, name, sizeof(name)) == -1);
	CHECK_STR(name, "evil?[2J?x"); /* nothing a terminal acts on */
	CHECK(ws_gw_parse_host("ALICE.ws", NULL, name, sizeof(name)) == -1);
}

static void keys_text_is_checked(void) {
	char why[256];
	const char *good = "# alice\nssh-ed25519 AAAA alice@laptop\n"
		"no-agent-forwarding,from=\"10.0.0.0/8\" ecdsa-sha2-nistp256 AAAA\n"
		"\nsk-ssh-ed25519@openssh.com AAAA\r\n";
	CHECK(ws_gw_keys_text_ok(good, strlen(good), why, sizeof(why)) == 0);
	CHECK(ws_gw_keys_text_ok("", 0, why, sizeof(why)) == 0);
	CHECK(ws_gw_keys_text_ok("hello world\n", 12, why, sizeof(why)) == -1);
	CHECK_STR(why, "line 1: not an authorized_keys line");
	CHECK(ws_gw_keys_text_ok("ssh-rsa AA\0AA\n", 14, why, sizeof(why)) == -1);
	CHECK_STR(why, "line 1: control character");
}

#define GW_MIN "role = gateway\ngateway_users_dir = /etc/gw/users\n" \
	"gateway_backend = /usr/bin/ws-gateway-podman\ngateway_state_dir = /var/lib/gw\n"

static void config_keys(void) {
	struct ws_config cfg;

	CHECK_STR(unit_parse_config(&cfg, ""), "");
	CHECK(!cfg.gateway.enabled && cfg.gateway.max_per_user == 5
		&& cfg.gateway.wake_timeout == 120 && cfg.gateway.idle_stop == 0);
	CHECK_STR(unit_parse_config(&cfg, "role = workspace\n"), "");
	CHECK_STR(unit_parse_config(&cfg, GW_MIN), "");
	CHECK(cfg.gateway.enabled && cfg.gateway.create == 0 && cfg.gateway.suffix == NULL);
	CHECK_STR(cfg.gateway.users_dir, "/etc/gw/users");
	CHECK_STR(ws_gw_program(&cfg), "/usr/bin/ws-gateway");
	ws_config_free(&cfg);
	CHECK_STR(unit_parse_config(&cfg, GW_MIN "gateway_suffix = .dev.example\ngateway_create = on\n"
		"gateway_max_per_user = 2\ngateway_idle_stop = 30m\ngateway_wake_timeout = 2m\n"
		"gateway_grants = /etc/gw/grants\ngateway_program = /opt/ws-gateway\n"
		"gateway_host = gw.example.com:2200\n"), "");
	CHECK_STR(cfg.gateway.suffix, ".dev.example");
	CHECK(cfg.gateway.create == 1 && cfg.gateway.max_per_user == 2);
	CHECK(cfg.gateway.idle_stop == 1800 && cfg.gateway.wake_timeout == 120);
	CHECK_STR(cfg.gateway.grants, "/etc/gw/grants");
	CHECK_STR(ws_gw_program(&cfg), "/opt/ws-gateway");
	CHECK_STR(cfg.gateway.host, "gw.example.com:2200");
	CHECK_STR(ws_gw_workspace_user(&cfg), "developer");
	ws_config_free(&cfg);
	CHECK_STR(unit_parse_config(&cfg, GW_MIN "gateway_workspace_user = dev_1\n"), "");
	CHECK_STR(ws_gw_workspace_user(&cfg), "dev_1");
	ws_config_free(&cfg);
	CHECK_STR(unit_parse_config(&cfg, GW_MIN "gateway_workspace_user = Dev\n"), "hooks.conf:5: "
		"gateway_workspace_user: expected a user name: a-z or _, then a-z, 0-9, _ or -, at most 32");
	CHECK_STR(unit_parse_config(&cfg, GW_MIN "gateway_idle_stop = 90\ngateway_wake_timeout = 5s\n"),
		"");
	CHECK(cfg.gateway.idle_stop == 90 && cfg.gateway.wake_timeout == 5);
	ws_config_free(&cfg);
}

static void config_mistakes(void) {
	struct ws_config cfg;

	CHECK_STR(unit_parse_config(&cfg, "role = gw\n"),
		"hooks.conf:1: role: expected workspace or gateway");
	CHECK_STR(unit_parse_config(&cfg, "gateway_create = on\n"),
		"hooks.conf: gateway_* keys need role = gateway");
#define ONE_SOURCE "hooks.conf: role = gateway needs one of gateway_users_dir, " \
	"gateway_keys_command and gateway_keys_socket"
	CHECK_STR(unit_parse_config(&cfg, "role = gateway\n"), ONE_SOURCE);
	CHECK_STR(unit_parse_config(&cfg, GW_MIN "gateway_keys_command = /usr/bin/keys\n"), ONE_SOURCE);
	CHECK_STR(unit_parse_config(&cfg, GW_MIN "gateway_keys_socket = /run/keys.sock\n"), ONE_SOURCE);
	CHECK_STR(unit_parse_config(&cfg, "role = gateway\ngateway_users_dir = /u\n"),
		"hooks.conf: role = gateway needs gateway_backend and gateway_state_dir");
	CHECK_STR(unit_parse_config(&cfg, GW_MIN "gateway_suffix = ws\n"),
		"hooks.conf:5: gateway_suffix: expected a dot and a domain name, such as .ws");
	CHECK_STR(unit_parse_config(&cfg, GW_MIN "gateway_suffix = .Ws\n"),
		"hooks.conf:5: gateway_suffix: 'Ws' is not a lower-case DNS label");
	CHECK_STR(unit_parse_config(&cfg, GW_MIN "gateway_suffix = .ws.\n"),
		"hooks.conf:5: gateway_suffix: expected a dot and a domain name, such as .ws");
	CHECK_STR(unit_parse_config(&cfg, GW_MIN "gateway_idle_stop = 5\n"),
		"hooks.conf:5: gateway_idle_stop: 5 is out of range (10 to 604800 seconds)");
	CHECK_STR(unit_parse_config(&cfg, GW_MIN "gateway_idle_stop = 1d\n"),
		"hooks.conf:5: gateway_idle_stop: expected seconds, such as 90, 90s, 30m or 2h");
	CHECK_STR(unit_parse_config(&cfg, GW_MIN "gateway_wake_timeout = 0\n"),
		"hooks.conf:5: gateway_wake_timeout: 0 is out of range (1 to 3600 seconds)");
	CHECK_STR(unit_parse_config(&cfg, GW_MIN "gateway_max_per_user = 0\n"),
		"hooks.conf:5: gateway_max_per_user: 0 is out of range (1 to 1000)");
	CHECK_STR(unit_parse_config(&cfg, GW_MIN "gateway_backend = podman\n"),
		"hooks.conf:5: 'gateway_backend' is already set on line 3");
	CHECK_STR(unit_parse_config(&cfg, "role = gateway\ngateway_state_dir = state\n"),
		"hooks.conf:2: gateway_state_dir: expected an absolute path");
	CHECK_STR(unit_parse_config(&cfg, GW_MIN "gateway_grants = grants\n"),
		"hooks.conf:5: gateway_grants: expected off or an absolute path");
	CHECK_STR(unit_parse_config(&cfg, GW_MIN "gateway_host = \"gw;rm\"\n"),
		"hooks.conf:5: gateway_host: ';' cannot be part of a host name");
}

/* A config with the gateway's sources in the test's directory. */
static void gw_config(struct ws_config *cfg, const char *extra) {
	char text[2048];
	snprintf(text, sizeof(text), "role = gateway\ngateway_backend = /bin/true\n"
		"gateway_state_dir = %s\n%s", unit_tmpdir(), extra);
	CHECK_STR(unit_parse_config(cfg, text), "");
}

static void keys_from_the_users_dir(void) {
	struct ws_config cfg;
	char extra[600], why[600] = "", *keys = NULL, dir[512];
	size_t len = 0;

	snprintf(dir, sizeof(dir), "%s/users", unit_tmpdir());
	mkdir(dir, 0755);
	unit_write_file("users/alice", "ssh-ed25519 AAAA alice\n", 0644);
	unit_write_file("users/mallory", "ssh-ed25519 AAAA mallory\n", 0666);
	unit_write_file("users/junk", "not a key\n", 0644);
	unit_write_file("users/bob-ci", "ssh-ed25519 AAAA ci\n", 0644);
	snprintf(extra, sizeof(extra), "gateway_users_dir = %s\n", dir);
	gw_config(&cfg, extra);
	CHECK(ws_gw_user_keys(&cfg, "alice", &keys, &len, why, sizeof(why)) == 1);
	CHECK_STR(keys, "ssh-ed25519 AAAA alice\n");
	free(keys);
	CHECK(ws_gw_user_keys(&cfg, "bob", &keys, &len, why, sizeof(why)) == 0);
	CHECK(ws_gw_user_keys(&cfg, "../users/alice", &keys, &len, why, sizeof(why)) == 0);
	/* a file for a '-' name is no user: bob would own it */
	CHECK(ws_gw_user_keys(&cfg, "bob-ci", &keys, &len, why, sizeof(why)) == 0);
	CHECK(ws_gw_user_keys(&cfg, "mallory", &keys, &len, why, sizeof(why)) == -1);
	CHECK_CONTAINS(why, "writable by group or others; refusing it");
	CHECK(ws_gw_user_keys(&cfg, "junk", &keys, &len, why, sizeof(why)) == -1);
	CHECK_STR(why, "line 1: not an authorized_keys line");
	ws_config_free(&cfg);
}

static void keys_from_a_command(void) {
	struct ws_config cfg;
	char extra[600], why[600] = "", *keys = NULL;
	size_t len = 0;
	const char *cmd = unit_write_file("keys.sh", "#!/bin/sh\n"
		"case $1 in\n"
		"alice) echo 'ssh-ed25519 AAAA alice' ;;\n"
		"bob) exit 1 ;;\n"
		"carol) echo 'database down' >&2; exit 3 ;;\n"
		"dave) echo 'rm -rf /' ;;\n"
		"*) head -c 70000 /dev/zero | tr '\\0' a ;;\n"
		"esac\n", 0755);

	snprintf(extra, sizeof(extra), "gateway_keys_command = %s\n", cmd);
	gw_config(&cfg, extra);
	CHECK(ws_gw_user_keys(&cfg, "alice", &keys, &len, why, sizeof(why)) == 1);
	CHECK_STR(keys, "ssh-ed25519 AAAA alice\n");
	free(keys);
	CHECK(ws_gw_user_keys(&cfg, "bob", &keys, &len, why, sizeof(why)) == 0);
	CHECK(ws_gw_user_keys(&cfg, "carol", &keys, &len, why, sizeof(why)) == -1);
	CHECK_STR(why, "gateway_keys_command: exit status 3: database down");
	CHECK(ws_gw_user_keys(&cfg, "dave", &keys, &len, why, sizeof(why)) == -1);
	CHECK_STR(why, "line 1: not an authorized_keys line");
	CHECK(ws_gw_user_keys(&cfg, "erin", &keys, &len, why, sizeof(why)) == -1);
	CHECK_STR(why, "gateway_keys_command: more than 65536 bytes of output");
	ws_config_free(&cfg);
}

static void grants_file_adds_users(void) {
	struct ws_config cfg;
	char extra[600], why[600] = "";
	const char *path = unit_write_file("grants", "bob alice-dev\n", 0644);

	snprintf(extra, sizeof(extra), "gateway_users_dir = /nonexistent\ngateway_grants = %s\n",
		path);
	gw_config(&cfg, extra);
	CHECK(ws_gw_may_use(&cfg, "bob", "alice-dev", why, sizeof(why)) == 1);
	CHECK(ws_gw_may_use(&cfg, "bob", "alice", why, sizeof(why)) == 0);
	CHECK(ws_gw_may_use(&cfg, "alice", "alice", why, sizeof(why)) == 1);
	chmod(path, 0666); /* anyone could grant themselves anything */
	CHECK(ws_gw_may_use(&cfg, "bob", "alice-dev", why, sizeof(why)) == -1);
	CHECK_CONTAINS(why, "writable by group or others");
	unlink(path);
	CHECK(ws_gw_may_use(&cfg, "bob", "alice-dev", why, sizeof(why)) == 0);
	ws_config_free(&cfg);
}

/* Starts the library as a connection process with `conf`; NULL if not. */
static void *start(const char *conf) {
	void *ctx = NULL;
	char err[600] = "";
	if (ws_hook_entry()->startup(&ctx, unit_write_file("hooks.conf", conf, 0644), 0,
			err, sizeof(err)) != 0) {
		printf("    startup: %s\n", err);
		return NULL;
	}
	return ctx;
}

static int fake_set_count;
static char fake_set_last[600];
static int fake_set(void *env_ctx, const char *name, const char *value) {
	(void)env_ctx;
	fake_set_count++;
	snprintf(fake_set_last, sizeof(fake_set_last), "%s=%s", name, value);
	return 0;
}

static void the_workspace_role_keeps_the_servers_rules(void) {
	const struct ws_hooks *h = ws_hook_entry();
	void *ctx = start("event_log = off\n");
	CHECK(ctx != NULL);
	CHECK(h->user_lookup == NULL && h->authorized_keys == NULL && h->tcp_route == NULL);
	if (ctx != NULL) {
		h->shutdown(ctx);
	}
}

static void the_gateway_role_answers_users_keys_and_routes(void) {
	const struct ws_hooks *h = ws_hook_entry();
	struct ws_conn c = { sizeof(c), "0123456789abcdef", "127.0.0.1", "40000",
		NULL, NULL, NULL, 4242 };
	struct ws_session s = { sizeof(s), &c, 0, "exec", NULL, NULL, 0 };
	char conf[2048], dir[512], reason[WS_GW_REASON_MAX], got[600], want[600];
	const char *prog, *log;
	void *ctx;
	ssize_t n;
	int fd = -1;

	snprintf(dir, sizeof(dir), "%s/users", unit_tmpdir());
	mkdir(dir, 0755);
	unit_write_file("users/alice", "ssh-ed25519 AAAA alice\n", 0644);
	unit_write_file("users/alice-ci", "ssh-ed25519 AAAA ci\n", 0644);
	/* the "wake" program: says what it was run with on descriptor 3 */
	prog = unit_write_file("ws-gateway", "#!/bin/sh\nprintf '%s ' \"$@\" >&3 2>/dev/null\n", 0755);
	snprintf(conf, sizeof(conf), "role = gateway\nevent_log = %s/events.log\n"
		"gateway_users_dir = %s\ngateway_backend = /bin/true\ngateway_state_dir = %s\n"
		"gateway_program = %s\n", unit_tmpdir(), dir, unit_tmpdir(), prog);
	ctx = start(conf);
	CHECK(ctx != NULL);
	if (ctx == NULL) {
		return;
	}
	CHECK(h->user_lookup(ctx, &c, "alice") == 1);
	CHECK(h->user_lookup(ctx, &c, "bob") == 0);
	CHECK(h->user_lookup(ctx, &c, "Alice") == 0);
	CHECK(h->user_lookup(ctx, &c, "alice-ci") == 0); /* alice would own it */
	CHECK(h->authorized_keys(ctx, &c, "alice-ci") == -1);
	CHECK(h->authorized_keys(ctx, &c, "bob") == -1);
	fd = h->authorized_keys(ctx, &c, "alice");
	CHECK(fd >= 0);
	if (fd >= 0) {
		n = read(fd, got, sizeof(got) - 1);
		got[n > 0 ? n : 0] = '\0';
		CHECK_STR(got, "ssh-ed25519 AAAA alice\n");
		close(fd);
	}

	c.user = "alice";
	fd = -1;
	CHECK(h->tcp_route(ctx, &c, "bob.ws", 22, &fd, reason, sizeof(reason)) == WS_ROUTE_REFUSE);
	CHECK_STR(reason, "no workspace 'bob' for alice");
	CHECK(h->tcp_route(ctx, &c, "10.0.0.1", 22, &fd, reason, sizeof(reason))
		== WS_ROUTE_REFUSE);
	CHECK_STR(reason, "'10.0.0.1' is not a workspace name");
	CHECK(h->tcp_route(ctx, &c, "alice.ws", 80, &fd, reason, sizeof(reason))
		== WS_ROUTE_REFUSE);
	CHECK_STR(reason, "only port 22 of a workspace");
	CHECK(fd == -1);
	CHECK(h->tcp_route(ctx, &c, "alice-dev.ws", 22, &fd, reason, sizeof(reason))
		== WS_ROUTE_PENDING);
	CHECK(fd >= 0);
	if (fd >= 0) {
		n = recv(fd, got, sizeof(got) - 1, 0);
		got[n > 0 ? n : 0] = '\0';
		snprintf(want, sizeof(want), "--config %s/hooks.conf wake alice alice-dev ",
			unit_tmpdir());
		CHECK_STR(got, want);
		close(fd);
	}

	/* a client that jumps in a loop gets a reason, not a process each */
	for (n = 1; n < WS_GW_WAKES_PER_MINUTE; n++) {
		fd = -1;
		CHECK(h->tcp_route(ctx, &c, "alice", 22, &fd, reason, sizeof(reason))
			== WS_ROUTE_PENDING);
		if (fd >= 0) {
			/* its message (or EOF): the program ran before the test's
			 * directory goes */
			CHECK(recv(fd, got, sizeof(got), 0) > 0);
			close(fd);
		}
	}
	CHECK(h->tcp_route(ctx, &c, "alice", 22, &fd, reason, sizeof(reason))
		== WS_ROUTE_REFUSE);
	CHECK_STR(reason, "workspace 'alice' did not start: too many jumps in a minute");

	/* sessions: ws-gateway control only */
	CHECK(h->client_env(ctx, &s, "LANG", "C") == 0);
	CHECK(h->agent_request(ctx, &s) == 0);
	fake_set_count = 0;
	/* a gateway started without -c: the client's command, or a shell */
	s.command = "cat /var/lib/gw/hostkeys/alice";
	CHECK(h->session_env(ctx, &s, fake_set, NULL) != 0);
	s.kind = "shell";
	s.command = NULL;
	CHECK(h->session_env(ctx, &s, fake_set, NULL) != 0);
	/* the program's name, but not forced: the client typed it */
	snprintf(want, sizeof(want), "%s/ws-gateway control", unit_tmpdir());
	s.kind = "exec";
	s.command = want;
	CHECK(h->session_env(ctx, &s, fake_set, NULL) != 0);
	s.key_options = WS_KEY_FORCED_COMMAND;
	s.command = "/bin/sh";
	CHECK(h->session_env(ctx, &s, fake_set, NULL) != 0);
	CHECK(fake_set_count == 0);
	s.command = want;
	CHECK(h->session_env(ctx, &s, fake_set, NULL) == 0);
	snprintf(want, sizeof(want), "WS_GATEWAY_CONFIG=%s/hooks.conf", unit_tmpdir());
	CHECK(fake_set_count == 1);
	CHECK_STR(fake_set_last, want);
	s.kind = "subsystem";
	s.command = "sftp";
	CHECK(h->session_env(ctx, &s, fake_set, NULL) != 0);
	h->shutdown(ctx);

	snprintf(want, sizeof(want), "%s/events.log", unit_tmpdir());
	log = unit_read_file(want);
	CHECK_CONTAINS(log, "\"event\":\"gateway_route_refused\",\"session\":\"0123456789abcdef\","
		"\"user\":\"alice\",\"host\":\"bob.ws\",\"port\":22,\"workspace\":\"bob\","
		"\"reason\":\"no workspace 'bob' for alice\"}");
	CHECK_CONTAINS(log, "\"event\":\"gateway_route\",\"session\":\"0123456789abcdef\","
		"\"user\":\"alice\",\"host\":\"alice-dev.ws\",\"port\":22,"
		"\"workspace\":\"alice-dev\"}");
}

static void the_gateway_role_needs_its_programs(void) {
	char conf[1024], err[600] = "";
	void *ctx = NULL;

	snprintf(conf, sizeof(conf), "role = gateway\nevent_log = off\ngateway_users_dir = /x\n"
		"gateway_backend = /nonexistent/backend\ngateway_state_dir = %s\n"
		"gateway_program = /bin/true\n", unit_tmpdir());
	CHECK(ws_hook_entry()->startup(&ctx, unit_write_file("hooks.conf", conf, 0644), 1,
		err, sizeof(err)) != 0);
	CHECK_STR(err, "gateway_backend /nonexistent/backend: No such file or directory");
}

static void sleep_ms(long ms) {
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Running, not a zombie: the keeper is our child and stays unreaped. */
static int running(pid_t pid) {
	char path[64], stat[256], *end;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL) {
		return 0;
	}
	n = fread(stat, 1, sizeof(stat) - 1, f);
	fclose(f);
	stat[n] = '\0';
	end = strrchr(stat, ')');
	return end != NULL && end[1] == ' ' && end[2] != 'Z';
}

/* A server that cannot re-execute itself forks its connections with the
 * listener's library: a connection ending there must not stop the keeper,
 * and must not hold the keeper's lifeline (the keeper would outlive the
 * listener for as long as any connection lasts). */
static void a_forked_connection_leaves_the_keeper_alone(void *ctx, pid_t keeper) {
	const struct ws_hooks *h = ws_hook_entry();
	struct ws_conn c = { sizeof(c), "0123456789abcdef", "127.0.0.1", "40000",
		NULL, NULL, NULL, 0 };
	char path[64], lifeline[64];
	ssize_t n;
	int status = -1;
	pid_t pid;

	snprintf(path, sizeof(path), "/proc/%ld/fd/3", (long)keeper);
	n = readlink(path, lifeline, sizeof(lifeline) - 1);
	CHECK(n > 0);
	lifeline[n > 0 ? n : 0] = '\0';
	pid = fork();
	if (pid == 0) {
		char fdpath[64], target[64];
		int fd, holds = 0;

		c.pid = (long)getpid();
		h->connect(ctx, &c);
		for (fd = 0; fd < 1024; fd++) {
			snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", fd);
			n = readlink(fdpath, target, sizeof(target) - 1);
			if (n > 0 && (target[n] = '\0', strcmp(target, lifeline) == 0)) {
				holds = 1;
			}
		}
		h->shutdown(ctx);
		_exit(holds ? 3 : 0);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	sleep_ms(100);
	CHECK(running(keeper));
}

/* With gateway_idle_stop, the listener runs `ws-gateway keeper` for as
 * long as it runs itself; a connection process does not. */
static void the_listener_runs_the_keeper(void) {
	const struct ws_hooks *h = ws_hook_entry();
	char conf[2048], ran[512], want[600], err[600] = "";
	const char *prog, *path;
	void *ctx = NULL;
	pid_t keeper;
	int i;

	snprintf(ran, sizeof(ran), "%s/ran", unit_tmpdir());
	/* records its arguments, then waits to be stopped */
	prog = unit_write_file("ws-gateway", "#!/bin/sh\necho $$ > \"${0%/*}/keeper.pid\"\n"
		"echo \"$@\" > \"${0%/*}/ran.tmp\"\n"
		"mv \"${0%/*}/ran.tmp\" \"${0%/*}/ran\"\nexec sleep 60\n", 0755);
	snprintf(conf, sizeof(conf), "role = gateway\nevent_log = off\n"
		"gateway_users_dir = /x\ngateway_backend = /bin/true\ngateway_state_dir = %s\n"
		"gateway_program = %s\ngateway_idle_stop = 1h\n", unit_tmpdir(), prog);
	path = unit_write_file("hooks.conf", conf, 0644);
	snprintf(want, sizeof(want), "--config %s keeper\n", path);
	CHECK(h->startup(&ctx, path, 1, err, sizeof(err)) == 0);
	for (i = 0; i < 500 && access(ran, F_OK) != 0; i++) {
		sleep_ms(10);
	}
	CHECK_STR(unit_read_file(ran), want);
	snprintf(want, sizeof(want), "%s/keeper.pid", unit_tmpdir());
	keeper = (pid_t)atol(unit_read_file(want));
	CHECK(keeper > 0);
	if (ctx != NULL && keeper > 0) {
		a_forked_connection_leaves_the_keeper_alone(ctx, keeper);
		h->shutdown(ctx); /* stops and reaps it: a hang here fails the test */
		CHECK(!running(keeper));
	}

	unlink(ran);
	ctx = NULL;
	CHECK(h->startup(&ctx, path, 0, err, sizeof(err)) == 0);
	sleep_ms(300);
	CHECK(access(ran, F_OK) != 0);
	if (ctx != NULL) {
		h->shutdown(ctx);
	}
}

UNIT_SUITE(gateway_tests) = {
	{ "gateway: names are DNS labels", names_are_dns_labels },
	{ "gateway: a user owns its name and NAME-*", a_user_owns_its_name_and_its_dash_names },
	{ "gateway: user names have no '-'", user_names_have_no_dash },
	{ "gateway: grants lines", grants_lines },
	{ "gateway: destinations name workspaces", destinations_name_workspaces },
	{ "gateway: keys text is checked", keys_text_is_checked },
	{ "gateway: config keys", config_keys },
	{ "gateway: config mistakes", config_mistakes },
	{ "gateway: keys from the users dir", keys_from_the_users_dir },
	{ "gateway: keys from a command", keys_from_a_command },
	{ "gateway: a grants file adds users", grants_file_adds_users },
	{ "gateway: the workspace role keeps the server's rules",
		the_workspace_role_keeps_the_servers_rules },
	{ "gateway: the gateway role answers users, keys and routes",
		the_gateway_role_answers_users_keys_and_routes },
	{ "gateway: the gateway role needs its programs", the_gateway_role_needs_its_programs },
	{ "gateway: the listener runs the keeper", the_listener_runs_the_keeper },
	UNIT_END
};
