/*
 * test_gateway_run.c - ws_gw_run(), which runs the gateway's helpers (the
 * keys command during a login, the backend in the keeper): whatever a
 * helper does, the caller gets an answer within the time limit.
 */
#include "unit.h"

#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"

static long ms_between(const struct timespec *a, const struct timespec *b) {
	return (b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

/* A helper that closes its output but goes on running: reading reaches
 * EOF at once, and waiting for it must still end at the deadline, with
 * its whole group killed. */
static void a_helper_that_keeps_running_without_output_is_cut_off(void) {
	char pidfile[512];
	const char *prog;
	char *argv[2];
	struct ws_gw_result r;
	struct timespec t0, t1;
	long pid;

	snprintf(pidfile, sizeof(pidfile), "%s/sleeper.pid", unit_tmpdir());
	prog = unit_write_file("closes-and-stays.sh", "#!/bin/sh\n"
		"exec >/dev/null 2>&1\nsleep 1000 &\necho $! > \"${0%/*}/sleeper.pid\"\nwait\n", 0755);
	argv[0] = (char *)prog;
	argv[1] = NULL;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(ws_gw_run(argv, NULL, 500, 1024, &r) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(ms_between(&t0, &t1) < 5000);
	CHECK(r.timed_out && r.status == -1);
	CHECK_STR(r.err, "timed out after 500 ms");
	ws_gw_result_free(&r);
	pid = atol(unit_read_file(pidfile));
	CHECK(pid > 0);
	if (pid > 0) {
		struct timespec step = { 0, 50 * 1000000L };
		int i;
		for (i = 0; i < 40 && kill((pid_t)pid, 0) == 0; i++) {
			nanosleep(&step, NULL);
		}
		CHECK(kill((pid_t)pid, 0) != 0); /* the group went with it */
	}
}

/* A caller with signals blocked (the keeper, a server between fork and
 * exec) must not hand that mask down: the helper would ignore a stop. */
static void a_helper_starts_with_no_signals_blocked(void) {
	const char *prog = unit_write_file("term-self.sh", "#!/bin/sh\n"
		"kill -TERM $$\necho survived\n", 0755);
	char *argv[] = { (char *)prog, NULL };
	struct ws_gw_result r;
	sigset_t term, old;

	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, &old);
	CHECK(ws_gw_run(argv, NULL, 5000, 1024, &r) == 0);
	sigprocmask(SIG_SETMASK, &old, NULL);
	CHECK_STR(r.out, "");
	CHECK(r.status == -1);
	CHECK_STR(r.err, "killed by signal 15");
	ws_gw_result_free(&r);
}

/* The ordinary case stays as it was. */
static void a_helper_that_exits_is_reported(void) {
	const char *prog = unit_write_file("says.sh", "#!/bin/sh\n"
		"echo out; echo 'first line' >&2; echo second >&2; exit 3\n", 0755);
	char *argv[] = { (char *)prog, NULL };
	struct ws_gw_result r;

	CHECK(ws_gw_run(argv, NULL, 5000, 1024, &r) == 0);
	CHECK_STR(r.out, "out\n");
	CHECK_STR(r.err, "first line");
	CHECK(r.status == 3 && !r.timed_out && !r.too_big);
	ws_gw_result_free(&r);
}

UNIT_SUITE(gateway_run_tests) = {
	{ "gateway run: a helper that exits is reported", a_helper_that_exits_is_reported },
	{ "gateway run: a helper that keeps running without output is cut off",
		a_helper_that_keeps_running_without_output_is_cut_off },
	{ "gateway run: a helper starts with no signals blocked",
		a_helper_starts_with_no_signals_blocked },
	UNIT_END
};
