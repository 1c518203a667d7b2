/*
 * main.c - runs every unit test suite and prints "N passed, N failed".
 */
#define _GNU_SOURCE
#include "unit.h"

/* The suites this binary runs: the hook library's by default; the cipher
 * tests binary passes its own (Makefile). */
#ifndef UNIT_SUITES
#define UNIT_SUITES config_tests, config_doc_tests, eventlog_tests, plugin_tests, env_tests, envsource_tests, \
	envtrust_tests, agent_filter_tests, gateway_tests, gateway_run_tests, gateway_limits_tests, \
	gateway_keeper_tests, kube_objects_tests, kube_wire_tests, kube_token_tests
#endif

#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static int failures_in_test;
static char tmpdir[256];

void unit_fail(const char *file, int line, const char *what) {
	printf("    FAIL %s:%d: %s\n", file, line, what);
	failures_in_test++;
}

const char *unit_tmpdir(void) {
	return tmpdir;
}

const char *unit_write_file(const char *name, const char *text, unsigned int mode) {
	static char path[512];
	int fd;
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		printf("    cannot write %s\n", path);
	}
	if (fd >= 0) {
		fchmod(fd, mode);
		close(fd);
	}
	return path;
}

const char *unit_read_file(const char *path) {
	static char buf[65536];
	ssize_t n = -1;
	int fd = open(path, O_RDONLY);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

int main(int argc, char **argv) {
	const struct unit_test *suites[] = { UNIT_SUITES };
	const char *only = argc > 1 ? argv[1] : NULL;
	int passed = 0, failed = 0;
	size_t s;

	for (s = 0; s < sizeof(suites) / sizeof(suites[0]); s++) {
		const struct unit_test *t;
		for (t = suites[s]; t->name != NULL; t++) {
			if (only != NULL && strstr(t->name, only) == NULL) {
				continue;
			}
			snprintf(tmpdir, sizeof(tmpdir), "%s/ws-unit-XXXXXX",
				getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
			if (mkdtemp(tmpdir) == NULL) {
				perror("mkdtemp");
				return 2;
			}
			/* the hook library's default agent_dir goes into the
			 * runtime directory: the test's own, never /tmp's */
			setenv("XDG_RUNTIME_DIR", tmpdir, 1);
			failures_in_test = 0;
			t->fn();
			nftw(tmpdir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
			printf("%s %s\n", failures_in_test ? "FAIL" : "ok  ", t->name);
			if (failures_in_test) {
				failed++;
			} else {
				passed++;
			}
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
