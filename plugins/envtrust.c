/*
 * envtrust.c - may an environment source be used: can nobody but root and
 * the server's own uid change what it says?  A source sets variables in
 * every session (and env_command runs as the server's user), so another
 * uid able to write it could run code in sessions that are not its own.
 *
 * The rule, for the file, directory or program itself and for every
 * directory above it (each path component as written, and as resolved
 * through symlinks):
 *  - owned by root or by the server's uid, and
 *  - not writable by group or others, except
 *      - a directory with the sticky bit (/tmp): others may add entries but
 *        not rename or remove ours, and whatever they add is checked on its
 *        own when read;
 *      - anything on a read-only mount: nobody writes it there (remounting
 *        takes root).  The kubelet mounts Secret, ConfigMap and projected
 *        volumes read-only; its files are root-owned, 0644 by default
 *        (group fsGroup and 0440 with the chart's defaultMode), and the
 *        volume's root is a root-owned 1777 tmpfs directory.
 * Group write is refused like world write: a group (an fsGroup, say) is
 * more uids than the server's.
 */
#define _DEFAULT_SOURCE /* realpath, S_ISVTX */
#include "envsources.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Group write by this group is allowed (ws_trust_own_volume); NO_GROUP:
 * by none. */
#define NO_GROUP ((gid_t)-1)

/* Is this the stat of something only root or we can change?  `rdonly`:
 * it is on a read-only mount.  0, or -1 with why (no path in it). */
static int stat_trusted(const struct stat *st, int rdonly, gid_t group_ok, char *why,
		size_t whylen) {
	mode_t others = (group_ok != NO_GROUP && st->st_gid == group_ok) ? S_IWOTH
		: (S_IWGRP | S_IWOTH);

	if (st->st_uid != 0 && st->st_uid != geteuid()) {
		snprintf(why, whylen, "owned by uid %lu, not root or the server's",
			(unsigned long)st->st_uid);
		return -1;
	}
	if ((st->st_mode & others) != 0 && !rdonly
			&& !(S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX) != 0)) {
		snprintf(why, whylen, "writable by group or others");
		return -1;
	}
	return 0;
}

int ws_trust_fd(int fd, const char *path, char *err, size_t errlen) {
	struct stat st;
	struct statvfs vfs;
	char why[128];

	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (stat_trusted(&st, fstatvfs(fd, &vfs) == 0 && (vfs.f_flag & ST_RDONLY) != 0,
			NO_GROUP, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s; refusing it", path, why);
		return -1;
	}
	return 0;
}

/* Every directory above `path` (absolute), "/" first, as written: a
 * symlink among them must be ours or root's (lstat), a directory must pass
 * the rule.  `what` is the source's path, for the message. */
static int check_above(const char *path, const char *what, gid_t group_ok, char *err,
		size_t errlen) {
	char prefix[PATH_MAX];
	size_t len = strlen(path), end;

	if (path[0] != '/' || len >= sizeof(prefix)) {
		snprintf(err, errlen, "%s: not an absolute path of at most %d bytes", what, PATH_MAX - 1);
		return -1;
	}
	/* "/a/b/name": "/", "/a", "/a/b" */
	for (end = 0; end < len; end++) {
		struct stat st;
		struct statvfs vfs;
		char why[128];

		if (path[end] != '/') {
			continue;
		}
		memcpy(prefix, path, end == 0 ? 1 : end);
		prefix[end == 0 ? 1 : end] = '\0';
		if (lstat(prefix, &st) != 0 || !(S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode))) {
			return 0; /* missing or not a directory: opening the source says so */
		}
		if (S_ISLNK(st.st_mode)) {
			/* a link's own mode means nothing: only who may replace it,
			 * its owner and its directory (checked on the way) */
			st.st_mode &= ~(mode_t)(S_IWGRP | S_IWOTH);
		}
		if (stat_trusted(&st, statvfs(prefix, &vfs) == 0 && (vfs.f_flag & ST_RDONLY) != 0,
				group_ok, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s: %s is %s; refusing it", what, prefix, why);
			return -1;
		}
	}
	return 0;
}

static int trust_parents(const char *path, gid_t group_ok, char *err, size_t errlen) {
	char parent[PATH_MAX], resolved[PATH_MAX];
	const char *slash = strrchr(path, '/');
	struct stat lst;
	size_t n;

	if (check_above(path, path, group_ok, err, errlen) != 0) {
		return -1;
	}
	/* path itself as a symlink: whoever made it chose what we read */
	if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode) && lst.st_uid != 0
			&& lst.st_uid != geteuid()) {
		snprintf(err, errlen, "%s: a symlink owned by uid %lu, not root or the server's; "
			"refusing it", path, (unsigned long)lst.st_uid);
		return -1;
	}
	/* and the directories of what it resolves to: a link into a directory
	 * others may write is no better than that directory */
	if (realpath(path, resolved) != NULL) {
		return check_above(resolved, path, group_ok, err, errlen);
	}
	/* missing (a per-user file not created yet): the directory it would be
	 * created in, resolved */
	if (slash == NULL || (n = (size_t)(slash - path)) >= sizeof(parent)) {
		return 0;
	}
	memcpy(parent, path, n);
	parent[n] = '\0';
	if (realpath(n == 0 ? "/" : parent, resolved) == NULL) {
		return 0; /* missing too: opening the source will say so */
	}
	n = strlen(resolved);
	if (n + 3 > sizeof(resolved)) {
		return 0;
	}
	/* check_above() looks at the directories above its argument: give it
	 * a child of `resolved`, so that `resolved` itself is checked too */
	memcpy(resolved + n, n == 1 ? "x" : "/x", n == 1 ? 2 : 3);
	return check_above(resolved, path, group_ok, err, errlen);
}

int ws_trust_parents(const char *path, char *err, size_t errlen) {
	return trust_parents(path, NO_GROUP, err, errlen);
}

static int trust_path(const char *path, gid_t group_ok, char *err, size_t errlen) {
	struct stat st;
	struct statvfs vfs;
	char why[128];

	if (trust_parents(path, NO_GROUP, err, errlen) != 0) {
		return -1;
	}
	if (stat(path, &st) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (stat_trusted(&st, statvfs(path, &vfs) == 0 && (vfs.f_flag & ST_RDONLY) != 0,
			group_ok, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s; refusing it", path, why);
		return -1;
	}
	return 0;
}

int ws_trust_path(const char *path, char *err, size_t errlen) {
	return trust_path(path, NO_GROUP, err, errlen);
}

/* Is gid one of ours (the effective or a supplementary group), and not
 * root's group, which is more than this pod on most systems? */
static int own_group(gid_t gid) {
	gid_t groups[256];
	int n = getgroups(256, groups), i;

	if (gid == 0) {
		return 0;
	}
	if (gid == getegid()) {
		return 1;
	}
	for (i = 0; i < n; i++) {
		if (groups[i] == gid) {
			return 1;
		}
	}
	return 0;
}

/* A volume the kubelet gives a pod with fsGroup has a root directory of
 * root:fsGroup, mode 2775: writable by the pod's group, which the server
 * is in (its gid, or a supplementary group as OpenShift assigns).  Only
 * that directory itself, never a directory above it, and only for one
 * that is the server's alone by design (the gateway's state in a pod of
 * its own), never for a source a sidecar of another uid shares a group
 * with. */
int ws_trust_own_volume(const char *path, char *err, size_t errlen) {
	struct stat st;

	if (stat(path, &st) == 0 && own_group(st.st_gid)) {
		return trust_path(path, st.st_gid, err, errlen);
	}
	return trust_path(path, NO_GROUP, err, errlen);
}
