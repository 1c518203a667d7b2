/*
 * test_gateway_limits.c - gateway_create's `own` and gateway_user_limits:
 * which names a user's jump may create, and how many, per user.
 */
#include "unit.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "gateway.h"

#define GW_MIN "role = gateway\ngateway_users_dir = /etc/gw/users\n" \
	"gateway_backend = /bin/true\ngateway_state_dir = /var/lib/gw\n"

static void create_takes_own(void) {
	struct ws_config cfg;

	CHECK_STR(unit_parse_config(&cfg, GW_MIN "gateway_create = own\n"), "");
	CHECK(cfg.gateway.create == WS_GW_CREATE_OWN);
	ws_config_free(&cfg);
	CHECK_STR(unit_parse_config(&cfg, GW_MIN "gateway_create = yes\n"), "");
	CHECK(cfg.gateway.create == WS_GW_CREATE_ON);
	ws_config_free(&cfg);
	CHECK_STR(unit_parse_config(&cfg, GW_MIN "gateway_create = off\n"), "");
	CHECK(cfg.gateway.create == WS_GW_CREATE_OFF);
	ws_config_free(&cfg);
	CHECK_STR(unit_parse_config(&cfg, GW_MIN "gateway_create = mine\n"),
		"hooks.conf:5: gateway_create: expected yes, no or own");
	CHECK_STR(unit_parse_config(&cfg, "gateway_user_limits = /etc/limits\n"),
		"hooks.conf: gateway_* keys need role = gateway");
	CHECK_STR(unit_parse_config(&cfg, GW_MIN "gateway_user_limits = limits\n"),
		"hooks.conf:5: gateway_user_limits: expected off or an absolute path");
}

static void own_creates_only_the_users_name(void) {
	CHECK(ws_gw_may_create(WS_GW_CREATE_OWN, "alice", "alice"));
	CHECK(!ws_gw_may_create(WS_GW_CREATE_OWN, "alice", "alice-dev"));
	CHECK(ws_gw_may_create(WS_GW_CREATE_ON, "alice", "alice-dev"));
	CHECK(ws_gw_may_create(WS_GW_CREATE_ON, "alice", "alice"));
	CHECK(!ws_gw_may_create(WS_GW_CREATE_ON, "alice", "bob"));
	CHECK(!ws_gw_may_create(WS_GW_CREATE_ON, "alice", "alicex"));
	CHECK(!ws_gw_may_create(WS_GW_CREATE_OFF, "alice", "alice"));
}

static int limits(const char *text, const char *user, int *create, unsigned int *max,
		char *why) {
	*create = WS_GW_CREATE_OWN;
	*max = 5;
	return ws_gw_limits_parse(text, strlen(text), user, create, max, why, 256);
}

static void limits_lines_override_per_user(void) {
	const char *text = "# exceptions\nalice create=yes max=10\n\nbob create=no\r\ncarol max=1\n";
	char why[256];
	int create;
	unsigned int max;

	CHECK(limits(text, "alice", &create, &max, why) == 0);
	CHECK(create == WS_GW_CREATE_ON && max == 10);
	CHECK(limits(text, "bob", &create, &max, why) == 0);
	CHECK(create == WS_GW_CREATE_OFF && max == 5);
	CHECK(limits(text, "carol", &create, &max, why) == 0);
	CHECK(create == WS_GW_CREATE_OWN && max == 1);
	CHECK(limits(text, "dave", &create, &max, why) == 0); /* not named: the config's */
	CHECK(create == WS_GW_CREATE_OWN && max == 5);
	/* the last line naming a user wins */
	CHECK(limits("alice max=2\nalice max=3\n", "alice", &create, &max, why) == 0);
	CHECK(max == 3);
}

static void malformed_limits_refuse_the_file(void) {
	char why[256];
	int create;
	unsigned int max;

	CHECK(limits("alice create=yes\nbob-ci max=2\n", "alice", &create, &max, why) == -1);
	CHECK_STR(why, "line 2: expected 'USER [create=yes|no|own] [max=1-1000]'");
	CHECK(limits("alice max=0\n", "alice", &create, &max, why) == -1);
	CHECK(limits("alice max=1001\n", "alice", &create, &max, why) == -1);
	CHECK(limits("alice max=-1\n", "alice", &create, &max, why) == -1);
	CHECK(limits("alice create=maybe\n", "alice", &create, &max, why) == -1);
	CHECK(limits("alice colour=blue\n", "bob", &create, &max, why) == -1);
	CHECK(limits("alice\0 max=2\n", "alice", &create, &max, why) == 0); /* strlen: "alice" */
	CHECK(ws_gw_limits_parse("alice\0max=2\n", 12, "alice", &create, &max, why, 256) == -1);
	CHECK_STR(why, "line 1: too long or binary");
}

static void limits_file_is_read_at_each_call(void) {
	struct ws_config cfg;
	char text[1024], why[256];
	const char *path;
	int create;
	unsigned int max;

	path = unit_write_file("limits", "alice create=no\n", 0644);
	snprintf(text, sizeof(text), GW_MIN "gateway_create = yes\ngateway_max_per_user = 4\n"
		"gateway_user_limits = %s\n", path);
	CHECK_STR(unit_parse_config(&cfg, text), "");
	CHECK(ws_gw_user_limits(&cfg, "alice", &create, &max, why, sizeof(why)) == 0);
	CHECK(create == WS_GW_CREATE_OFF && max == 4);
	CHECK(ws_gw_user_limits(&cfg, "bob", &create, &max, why, sizeof(why)) == 0);
	CHECK(create == WS_GW_CREATE_ON && max == 4);
	unit_write_file("limits", "alice max=9\n", 0644);
	CHECK(ws_gw_user_limits(&cfg, "alice", &create, &max, why, sizeof(why)) == 0);
	CHECK(create == WS_GW_CREATE_ON && max == 9);
	/* a file others may change decides nothing */
	CHECK(chmod(path, 0666) == 0);
	CHECK(ws_gw_user_limits(&cfg, "alice", &create, &max, why, sizeof(why)) == -1);
	CHECK(strstr(why, "gateway_user_limits ") == why);
	CHECK(chmod(path, 0644) == 0);
	unit_write_file("limits", "alice max=x\n", 0644);
	CHECK(ws_gw_user_limits(&cfg, "alice", &create, &max, why, sizeof(why)) == -1);
	CHECK(strstr(why, ": line 1: expected") != NULL);
	CHECK(remove(path) == 0); /* no file: no exceptions */
	CHECK(ws_gw_user_limits(&cfg, "alice", &create, &max, why, sizeof(why)) == 0);
	CHECK(create == WS_GW_CREATE_ON && max == 4);
	ws_config_free(&cfg);
}

UNIT_SUITE(gateway_limits_tests) = {
	{ "gateway limits: gateway_create takes own", create_takes_own },
	{ "gateway limits: own creates only the user's name", own_creates_only_the_users_name },
	{ "gateway limits: lines override per user", limits_lines_override_per_user },
	{ "gateway limits: a malformed file is refused", malformed_limits_refuse_the_file },
	{ "gateway limits: the file is read at each call", limits_file_is_read_at_each_call },
	UNIT_END
};
