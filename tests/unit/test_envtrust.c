/*
 * test_envtrust.c - environment sources that someone other than root and
 * the server's uid could change are refused (envtrust.c), and the
 * kubelet's read-only Secret layout is not.
 */
#define _GNU_SOURCE /* unshare */
#include "unit.h"

#include <grp.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "envsources.h"

static const struct ws_env_request req = { "alice", "0123456789abcdef", "127.0.0.1", "" };

typedef int (*source_fn)(const struct ws_env_config *, const struct ws_env_request *,
	struct ws_envlist *, char *, size_t);

/* Runs a source; returns "RET|A=1;|error": the variables only when it
 * succeeded (the caller throws a failed source's away), the error only
 * when it did not. */
static const char *run(source_fn fn, const struct ws_env_config *cfg) {
	static char out[4096];
	struct ws_envlist list;
	char err[1024] = "";
	size_t n;
	unsigned int i;
	int ret;

	ws_envlist_init(&list);
	ret = fn(cfg, &req, &list, err, sizeof(err));
	n = (size_t)snprintf(out, sizeof(out), "%d|", ret);
	for (i = 0; ret >= 0 && i < list.count && n < sizeof(out); i++) {
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s=%s;", list.vars[i].name,
			list.vars[i].value);
	}
	if (n < sizeof(out)) {
		snprintf(out + n, sizeof(out) - n, "|%s", ret == 0 ? "" : err);
	}
	ws_envlist_free(&list);
	return out;
}

/* "RET|VARS|" followed by unit_tmpdir()/rest, for exact comparisons. */
static const char *want(const char *head, const char *rest) {
	static char out[2048];
	snprintf(out, sizeof(out), "%s%s%s", head, unit_tmpdir(), rest);
	return out;
}

/* The same for a message naming two paths in unit_tmpdir(). */
static const char *want2(const char *head, const char *first, const char *second) {
	static char out[2048];
	snprintf(out, sizeof(out), "%s%s%s%s%s", head, unit_tmpdir(), first, unit_tmpdir(), second);
	return out;
}

static struct ws_env_config env_config(void) {
	struct ws_config cfg;
	ws_config_init(&cfg);
	return cfg.env;
}

static const char *in_tmp(const char *name) {
	static char path[4][512];
	static int next;
	next = (next + 1) % 4;
	snprintf(path[next], sizeof(path[next]), "%s/%s", unit_tmpdir(), name);
	return path[next];
}

static void mkdir_mode(const char *name, mode_t mode) {
	mkdir(in_tmp(name), 0700);
	chmod(in_tmp(name), mode);
}

static void file_source_modes(void) {
	struct ws_env_config cfg = env_config();
	char path[512];

	snprintf(path, sizeof(path), "%s", unit_write_file("all.env", "A=1\n", 0644));
	cfg.file = path;
	CHECK_STR(run(ws_envsrc_file, &cfg), "0|A=1;|");
	chmod(path, 0666);
	CHECK_STR(run(ws_envsrc_file, &cfg),
		want("-1||", "/all.env: writable by group or others; refusing it"));
	chmod(path, 0664);
	CHECK_STR(run(ws_envsrc_file, &cfg),
		want("-1||", "/all.env: writable by group or others; refusing it"));

	/* a per-user file in a directory anyone may write: refused even while
	 * it is missing (anyone could create it) */
	mkdir_mode("users", 0777);
	snprintf(path, sizeof(path), "%s/users/%%u.env", unit_tmpdir());
	CHECK_STR(run(ws_envsrc_file, &cfg), want2("-1||", "/users/alice.env: ",
		"/users is writable by group or others; refusing it"));
	/* a sticky directory (like /tmp) is fine: others cannot replace ours */
	chmod(in_tmp("users"), 01777);
	CHECK_STR(run(ws_envsrc_file, &cfg), want("1||", "/users/alice.env: No such file or directory"));
	unit_write_file("users/alice.env", "B=2\n", 0644);
	CHECK_STR(run(ws_envsrc_file, &cfg), "0|B=2;|");
}

/* A directory on the way there that resolves to one others may write. */
static void symlinked_parent(void) {
	struct ws_env_config cfg = env_config();
	char path[512];

	mkdir_mode("open", 0777);
	unit_write_file("open/all.env", "A=1\n", 0644);
	if (symlink("open", in_tmp("link")) != 0) {
		CHECK(!"symlink");
	}
	snprintf(path, sizeof(path), "%s/link/all.env", unit_tmpdir());
	cfg.file = path;
	CHECK_STR(run(ws_envsrc_file, &cfg), want2("-1||", "/link/all.env: ",
		"/open is writable by group or others; refusing it"));
	chmod(in_tmp("open"), 0755);
	CHECK_STR(run(ws_envsrc_file, &cfg), "0|A=1;|");

	/* a helper reached through a symlink: where it really lives counts */
	mkdir_mode("bin", 0755);
	unit_write_file("open/helper", "#!/bin/sh\necho H=1\n", 0755);
	if (symlink(in_tmp("open/helper"), in_tmp("bin/helper")) != 0) {
		CHECK(!"symlink");
	}
	snprintf(path, sizeof(path), "%s/bin/helper", unit_tmpdir());
	cfg.command = path;
	CHECK_STR(run(ws_envsrc_command, &cfg), "0|H=1;|");
	chmod(in_tmp("open"), 0777);
	CHECK_STR(run(ws_envsrc_command, &cfg), want2("-1||", "/bin/helper: ",
		"/open is writable by group or others; refusing it"));
}

static void dir_source_modes(void) {
	struct ws_env_config cfg = env_config();
	char dir[512];

	mkdir_mode("env", 0755);
	unit_write_file("env/A", "1", 0644);
	snprintf(dir, sizeof(dir), "%s/env", unit_tmpdir());
	cfg.dir = dir;
	CHECK_STR(run(ws_envsrc_dir, &cfg), "0|A=1;|");
	chmod(dir, 0777);
	CHECK_STR(run(ws_envsrc_dir, &cfg), want("-1||", "/env: writable by group or others; refusing it"));
	chmod(dir, 0775);
	CHECK_STR(run(ws_envsrc_dir, &cfg), want("-1||", "/env: writable by group or others; refusing it"));
	chmod(dir, 0755);
	unit_write_file("env/B", "2", 0666);
	CHECK_STR(run(ws_envsrc_dir, &cfg), want("-1||", "/env/B: writable by group or others; refusing it"));
	chmod(in_tmp("env/B"), 0644);
	/* the per-user directory follows the same rule */
	mkdir_mode("env/alice", 0777);
	CHECK_STR(run(ws_envsrc_dir, &cfg),
		want("-1||", "/env/alice: writable by group or others; refusing it"));
	chmod(in_tmp("env/alice"), 0755);
	CHECK_STR(run(ws_envsrc_dir, &cfg), "0|A=1;B=2;|");
}

static void command_source_modes(void) {
	struct ws_env_config cfg = env_config();
	char path[512], marker[512];

	snprintf(marker, sizeof(marker), "%s/ran", unit_tmpdir());
	snprintf(path, sizeof(path), "%s", unit_write_file("helper",
		"#!/bin/sh\ntouch \"$(dirname \"$0\")/ran\"\necho A=1\n", 0777));
	cfg.command = path;
	CHECK_STR(run(ws_envsrc_command, &cfg),
		want("-1||", "/helper: writable by group or others; refusing it"));
	CHECK(access(marker, F_OK) != 0); /* not run */
	chmod(path, 0755);
	CHECK_STR(run(ws_envsrc_command, &cfg), "0|A=1;|");
}

/* Owned by someone else: only root can make such files here. */
static void other_owners(void) {
	struct ws_env_config cfg = env_config();
	char path[512], dir[512], msg[128];

	if (geteuid() != 0) {
		printf("    (skipped: needs root to chown)\n");
		return;
	}
	snprintf(path, sizeof(path), "%s", unit_write_file("all.env", "A=1\n", 0644));
	cfg.file = path;
	CHECK(chown(path, 54321, 54321) == 0);
	CHECK_STR(run(ws_envsrc_file, &cfg),
		want("-1||", "/all.env: owned by uid 54321, not root or the server's; refusing it"));

	/* a symlink in env_dir that someone else made, to a file of root's */
	mkdir_mode("env", 0755);
	unit_write_file("root-file", "x", 0644);
	if (symlink(in_tmp("root-file"), in_tmp("env/B")) != 0 || lchown(in_tmp("env/B"), 54321, 54321) != 0) {
		CHECK(!"symlink");
	}
	snprintf(dir, sizeof(dir), "%s/env", unit_tmpdir());
	cfg.dir = dir;
	snprintf(msg, sizeof(msg),
		"/env/B: a symlink owned by uid 54321, not root or the server's; refusing it");
	CHECK_STR(run(ws_envsrc_dir, &cfg), want("-1||", msg));
}

/* The kubelet's Secret volume: a root-owned 1777 tmpfs mounted read-only,
 * files under ..data symlinks.  Even with defaultMode 0666 nobody can
 * write there.  Needs root for the mount (in a private mount namespace). */
static void kubelet_read_only_volume(void) {
	struct ws_env_config cfg = env_config();
	char dir[512];
	pid_t pid;
	int status = 0;

	if (geteuid() != 0) {
		printf("    (skipped: needs root to mount)\n");
		return;
	}
	snprintf(dir, sizeof(dir), "%s/secret", unit_tmpdir());
	mkdir(dir, 0755);
	cfg.dir = dir;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		const char *got;
		if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0
				|| mount("tmpfs", dir, "tmpfs", 0, "mode=1777") != 0) {
			_exit(77);
		}
		mkdir(in_tmp("secret/..2026_11_29_00_00_00.1"), 0755);
		unit_write_file("secret/..2026_11_29_00_00_00.1/TOKEN", "t", 0644);
		unit_write_file("secret/..2026_11_29_00_00_00.1/OPEN", "o", 0666);
		if (symlink("..2026_11_29_00_00_00.1", in_tmp("secret/..data")) != 0
				|| symlink("..data/TOKEN", in_tmp("secret/TOKEN")) != 0
				|| symlink("..data/OPEN", in_tmp("secret/OPEN")) != 0) {
			_exit(2);
		}
		/* writable: the 0666 file is refused */
		got = run(ws_envsrc_dir, &cfg);
		if (strstr(got, "/secret/OPEN: writable by group or others; refusing it") == NULL) {
			printf("    writable mount: %s\n", got);
			fflush(stdout);
			_exit(3);
		}
		if (mount(NULL, dir, NULL, MS_REMOUNT | MS_RDONLY, NULL) != 0) {
			_exit(77);
		}
		got = run(ws_envsrc_dir, &cfg);
		if (strcmp(got, "0|OPEN=o;TOKEN=t;|") != 0) {
			printf("    read-only mount: %s\n", got);
			fflush(stdout);
			_exit(4);
		}
		fflush(stdout);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	fflush(stdout);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		printf("    (skipped: cannot mount here)\n");
		return;
	}
	if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		printf("    child: status %d\n", status);
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The gateway's state on a volume mounted with fsGroup: its root is
 * root:fsGroup 2775.  Group write by a group of the server's (not root's)
 * is allowed there, on that directory only: not on a directory above it,
 * not by another group, and sources keep the strict rule. */
static void own_group_volume(void) {
	char err[512], state[512];

	snprintf(state, sizeof(state), "%s", in_tmp("volume/state"));
	mkdir_mode("volume", 0755);
	mkdir_mode("volume/state", 0700);
	CHECK(ws_trust_own_volume(state, err, sizeof(err)) == 0);
	if (geteuid() != 0) {
		printf("    (skipped: needs root to chown)\n");
		return;
	}
	CHECK(chown(state, 0, 54321) == 0 && chmod(state, 02775) == 0);
	CHECK(ws_trust_path(state, err, sizeof(err)) == -1);
	CHECK(ws_trust_own_volume(state, err, sizeof(err)) == -1); /* not our group */
	CHECK(strstr(err, "/volume/state: writable by group or others; refusing it") != NULL);
	/* a supplementary group of ours, as fsGroup is */
	{
		gid_t groups[] = { 54321 };
		pid_t pid = fork();
		int status;
		if (pid == 0) {
			_exit(setgroups(1, groups) == 0
				&& ws_trust_own_volume(state, err, sizeof(err)) == 0
				&& ws_trust_path(state, err, sizeof(err)) == -1 ? 0 : 1);
		}
		CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	/* root's group: never */
	CHECK(chown(state, 0, 0) == 0 && chmod(state, 02775) == 0);
	CHECK(ws_trust_own_volume(state, err, sizeof(err)) == -1);
	CHECK(chmod(state, 02777) == 0); /* others: never */
	CHECK(ws_trust_own_volume(state, err, sizeof(err)) == -1);
	/* a group-writable directory above it: never */
	CHECK(chmod(state, 0700) == 0);
	CHECK(chown(in_tmp("volume"), 0, getegid()) == 0 && chmod(in_tmp("volume"), 02775) == 0);
	CHECK(ws_trust_own_volume(state, err, sizeof(err)) == -1);
	CHECK(strstr(err, "/volume is writable by group or others; refusing it") != NULL);
}

UNIT_SUITE(envtrust_tests) = {
	{ "envtrust: a volume of the server's own group (the gateway's state)", own_group_volume },
	{ "envtrust: file source modes", file_source_modes },
	{ "envtrust: a symlinked parent is resolved", symlinked_parent },
	{ "envtrust: dir source modes", dir_source_modes },
	{ "envtrust: command source modes", command_source_modes },
	{ "envtrust: other owners", other_owners },
	{ "envtrust: the kubelet's read-only volume", kubelet_read_only_volume },
	UNIT_END
};
