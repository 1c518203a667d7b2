/*
 * test_gateway_keeper.c - the library's gateway startup and shutdown in
 * the listener: what it accepts as the state directory, and that stopping
 * the keeper is bounded in time whatever the keeper does.
 */
#include "unit.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"
#include "ws_hook.h"

static long ms_between(const struct timespec *a, const struct timespec *b) {
	return (b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

/* gateway_state_dir holds every workspace's host key: a directory another
 * uid could write to is refused at startup, as a key source would be. */
static void the_state_dir_must_be_trusted(void) {
	char conf[1024], state[512], err[600] = "";
	void *ctx = NULL;

	snprintf(state, sizeof(state), "%s/state", unit_tmpdir());
	mkdir(state, 0700);
	chmod(state, 0777);
	snprintf(conf, sizeof(conf), "role = gateway\nevent_log = off\ngateway_users_dir = /x\n"
		"gateway_backend = /bin/true\ngateway_state_dir = %s\n"
		"gateway_program = /bin/true\n", state);
	CHECK(ws_hook_entry()->startup(&ctx, unit_write_file("hooks.conf", conf, 0644), 0,
		err, sizeof(err)) != 0);
	CHECK_CONTAINS(err, "gateway_state_dir ");
	CHECK_CONTAINS(err, "writable by group or others; refusing it");
	chmod(state, 0700);
	ctx = NULL;
	CHECK(ws_hook_entry()->startup(&ctx, unit_write_file("hooks.conf", conf, 0644), 0,
		err, sizeof(err)) == 0);
	if (ctx != NULL) {
		ws_hook_entry()->shutdown(ctx);
	}
}

/* A keeper that ignores SIGTERM (stuck, or in a backend call that does)
 * must not hold the listener's exit: it is killed after a while. */
static void a_keeper_that_will_not_stop_is_killed(void) {
	const struct ws_hooks *h = ws_hook_entry();
	char conf[1024], pidpath[512], err[600] = "";
	const char *prog;
	struct timespec t0, t1;
	void *ctx = NULL;
	pid_t keeper = 0;
	int i;

	snprintf(pidpath, sizeof(pidpath), "%s/keeper.pid", unit_tmpdir());
	prog = unit_write_file("ws-gateway", "#!/bin/sh\ntrap '' TERM\n"
		"echo $$ > \"${0%/*}/keeper.tmp\"\nmv \"${0%/*}/keeper.tmp\" \"${0%/*}/keeper.pid\"\n"
		"exec sleep 60\n", 0755);
	snprintf(conf, sizeof(conf), "role = gateway\nevent_log = off\ngateway_users_dir = /x\n"
		"gateway_backend = /bin/true\ngateway_state_dir = %s\ngateway_program = %s\n"
		"gateway_idle_stop = 1h\n", unit_tmpdir(), prog);
	CHECK(h->startup(&ctx, unit_write_file("hooks.conf", conf, 0644), 1, err,
		sizeof(err)) == 0);
	for (i = 0; i < 500 && access(pidpath, F_OK) != 0; i++) {
		struct timespec step = { 0, 10 * 1000000L };
		nanosleep(&step, NULL);
	}
	keeper = (pid_t)atol(unit_read_file(pidpath));
	CHECK(keeper > 0);
	if (ctx == NULL) {
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	h->shutdown(ctx);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(ms_between(&t0, &t1) < WS_GW_KEEPER_STOP_MS + 3000);
	CHECK(keeper <= 0 || kill(keeper, 0) != 0); /* killed and reaped */
}

UNIT_SUITE(gateway_keeper_tests) = {
	{ "gateway keeper: the state dir must be trusted", the_state_dir_must_be_trusted },
	{ "gateway keeper: a keeper that will not stop is killed",
		a_keeper_that_will_not_stop_is_killed },
	UNIT_END
};
