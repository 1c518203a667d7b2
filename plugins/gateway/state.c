/*
 * state.c - the gateway's own directory (gateway_state_dir):
 *   locks/NAME      flock()ed while a workspace is woken, started, stopped
 *                   or removed, so concurrent requests do one thing at a time
 *   userlocks/USER  flock()ed while one of USER's workspaces is counted and
 *                   created, so concurrent creates keep gateway_max_per_user
 *   stopped/NAME    why the gateway stopped it: "idle" or "asked"
 *   woken/NAME      when a wake or start last found it answering (ms since
 *                   the epoch): the keeper counts idleness from no earlier
 *   keys/NAME       the authorized_keys lines a workspace was created with
 *   hostkeys/NAME   its host key (Dropbear format), NAME.pub the public half
 * Directories are 0700: the host keys are secrets.
 */
#define _DEFAULT_SOURCE /* flock, explicit_bzero */
#include "gw.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t gw_now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void gw_event(struct gw *g, const char *event, const char *user, const char *name,
		const char *key, const char *value, const char *key2, long long value2) {
	struct ws_event ev;

	ws_event_begin(&ev, event);
	ws_event_str(&ev, "user", user, 64);
	ws_event_str(&ev, "workspace", name, 64);
	if (key != NULL) {
		ws_event_str(&ev, key, value, 512);
	}
	if (key2 != NULL) {
		ws_event_int(&ev, key2, value2);
	}
	ws_eventlog_write(&g->log, &ev);
}

/* STATE/SUB[/NAME], with SUB created; 0 or -1. */
static int state_path(struct gw *g, const char *sub, const char *name, const char *ext,
		char *out, size_t outlen) {
	int n = snprintf(out, outlen, "%s/%s", g->cfg.gateway.state_dir, sub);
	if (n < 0 || (size_t)n >= outlen || (mkdir(out, 0700) != 0 && errno != EEXIST)) {
		return -1;
	}
	if (name != NULL) {
		n = snprintf(out, outlen, "%s/%s/%s%s", g->cfg.gateway.state_dir, sub, name,
			ext ? ext : "");
		if (n < 0 || (size_t)n >= outlen) {
			return -1;
		}
	}
	return 0;
}

static int lock_in(struct gw *g, const char *sub, const char *name, int try_only) {
	char path[PATH_MAX];
	int fd;

	if (state_path(g, sub, name, NULL, path, sizeof(path)) != 0) {
		return -1;
	}
	for (;;) {
		struct stat held, now;

		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0) {
			return -1;
		}
		while (flock(fd, LOCK_EX | (try_only ? LOCK_NB : 0)) != 0) {
			if (errno != EINTR) {
				close(fd);
				return -1;
			}
		}
		/* gw_unlock() may have removed the file while we waited: a lock on
		 * an unlinked file excludes nobody who opens the path now */
		if (fstat(fd, &held) == 0 && stat(path, &now) == 0
				&& held.st_dev == now.st_dev && held.st_ino == now.st_ino) {
			return fd;
		}
		close(fd);
	}
}

void gw_unlock(struct gw *g, const char *name, int fd, int gone) {
	char path[PATH_MAX];

	/* unlinked while still held: whoever waits on it retries (lock_in) */
	if (gone && state_path(g, "locks", name, NULL, path, sizeof(path)) == 0) {
		unlink(path);
	}
	close(fd);
}

int gw_lock(struct gw *g, const char *name, int try_only) {
	return lock_in(g, "locks", name, try_only);
}

int gw_user_lock(struct gw *g, const char *user) {
	return lock_in(g, "userlocks", user, 0);
}

/* The first line of a small state file (up to one read of buflen - 1 bytes,
 * cut at the first of stop), into buf; 0, or -1 if there is none. */
static int read_line(struct gw *g, const char *sub, const char *name, const char *ext,
		const char *stop, char *buf, size_t buflen) {
	char path[PATH_MAX];
	ssize_t n = -1;
	int fd;

	if (state_path(g, sub, name, ext, path, sizeof(path)) != 0) {
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		n = read(fd, buf, buflen - 1);
		close(fd);
	}
	if (n <= 0) {
		return -1;
	}
	buf[n] = '\0';
	buf[strcspn(buf, stop)] = '\0';
	return 0;
}

void gw_stop_reason(struct gw *g, const char *name, char *out, size_t outlen) {
	char buf[16];

	out[0] = '\0';
	if (read_line(g, "stopped", name, NULL, "\n", buf, sizeof(buf)) == 0
			&& (strcmp(buf, "idle") == 0 || strcmp(buf, "asked") == 0)) {
		snprintf(out, outlen, "%s", buf);
	}
}

/* Replaces a state file with one line (through SUB/NAME.tmp, renamed over
 * it, so that a reader sees the old line or the new).  0, or -1. */
static int write_line(struct gw *g, const char *sub, const char *name, const char *line) {
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	int fd, ok;

	if (state_path(g, sub, name, NULL, path, sizeof(path)) != 0
			|| snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		return -1;
	}
	ok = dprintf(fd, "%s\n", line) > 0;
	close(fd);
	return ok && rename(tmp, path) == 0 ? 0 : -1;
}

int gw_set_stop_reason(struct gw *g, const char *name, const char *reason) {
	return write_line(g, "stopped", name, reason);
}

void gw_clear_stop_reason(struct gw *g, const char *name) {
	char path[PATH_MAX];
	if (state_path(g, "stopped", name, NULL, path, sizeof(path)) == 0) {
		unlink(path);
	}
}

int gw_set_woken(struct gw *g, const char *name) {
	char now[32];

	snprintf(now, sizeof(now), "%lld", (long long)gw_now_ms());
	return write_line(g, "woken", name, now);
}

int64_t gw_woken_ms(struct gw *g, const char *name) {
	char buf[32], *end;
	long long v;

	if (read_line(g, "woken", name, NULL, "\n", buf, sizeof(buf)) != 0) {
		return 0;
	}
	v = strtoll(buf, &end, 10);
	return *end == '\0' && v > 0 ? (int64_t)v : 0;
}

/* dropbearkey: next to this program (build/bin, the install's bindir),
 * else on PATH. */
static void dropbearkey_path(char *out, size_t outlen) {
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	snprintf(out, outlen, "dropbearkey");
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash != NULL) {
			*slash = '\0';
			if ((size_t)snprintf(out, outlen, "%s/dropbearkey", self) < outlen
					&& access(out, X_OK) == 0) {
				return;
			}
		}
	}
	snprintf(out, outlen, "/usr/bin/dropbearkey");
}

static int write_file(const char *path, const char *text, size_t len, char *why, size_t whylen) {
	char tmp[PATH_MAX + 8];
	int fd, ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(why, whylen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
	close(fd);
	if (!ok || rename(tmp, path) != 0) {
		snprintf(why, whylen, "%s: cannot write", path);
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* A Dropbear host key and its public half ("TYPE BASE64"). */
static int make_host_key(const char *path, char *why, size_t whylen) {
	char prog[PATH_MAX], pub[PATH_MAX + 8], *line, *save = NULL;
	struct ws_gw_result r;
	char *gen[] = { prog, "-t", "ed25519", "-f", (char *)path, NULL };
	char *show[] = { prog, "-y", "-f", (char *)path, NULL };
	int ret = -1;

	dropbearkey_path(prog, sizeof(prog));
	if (access(path, F_OK) != 0) {
		if (ws_gw_run(gen, NULL, 30000, GW_OUT_MAX, &r) != 0 || r.status != 0) {
			snprintf(why, whylen, "dropbearkey: %s", r.err[0] ? r.err : "failed");
			ws_gw_result_free(&r);
			return -1;
		}
		ws_gw_result_free(&r);
	}
	if (ws_gw_run(show, NULL, 30000, GW_OUT_MAX, &r) != 0 || r.status != 0) {
		snprintf(why, whylen, "dropbearkey -y: %s", r.err[0] ? r.err : "failed");
		ws_gw_result_free(&r);
		return -1;
	}
	snprintf(why, whylen, "dropbearkey -y printed no public key");
	for (line = strtok_r(r.out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char type[64], b64[1024], text[1100];
		if (strncmp(line, "ssh-", 4) == 0 && sscanf(line, "%63s %1023s", type, b64) == 2) {
			int n = snprintf(text, sizeof(text), "%s %s\n", type, b64);
			snprintf(pub, sizeof(pub), "%s.pub", path);
			ret = write_file(pub, text, (size_t)n, why, whylen);
			break;
		}
	}
	ws_gw_result_free(&r);
	return ret;
}

int gw_write_keys(struct gw *g, const char *name, char *keys_path, size_t pathlen,
		char *why, size_t whylen) {
	char *keys = NULL;
	size_t len = 0;
	int ret;

	if (state_path(g, "keys", name, NULL, keys_path, pathlen) != 0) {
		snprintf(why, whylen, "gateway_state_dir %s: cannot use it", g->cfg.gateway.state_dir);
		return -1;
	}
	if (gw_workspace_keys(g, name, &keys, &len, why, whylen) != 0) {
		return -1;
	}
	ret = write_file(keys_path, keys, len, why, whylen);
	explicit_bzero(keys, len);
	free(keys);
	return ret;
}

int gw_make_host_key(struct gw *g, const char *name, char *hostkey_path, size_t pathlen,
		char *why, size_t whylen) {
	if (state_path(g, "hostkeys", name, NULL, hostkey_path, pathlen) != 0) {
		snprintf(why, whylen, "gateway_state_dir %s: cannot use it", g->cfg.gateway.state_dir);
		return -1;
	}
	return make_host_key(hostkey_path, why, whylen);
}

int gw_prepare_files(struct gw *g, const char *name, char *keys_path,
		char *hostkey_path, size_t pathlen, char *why, size_t whylen) {
	if (gw_write_keys(g, name, keys_path, pathlen, why, whylen) != 0) {
		return -1;
	}
	return gw_make_host_key(g, name, hostkey_path, pathlen, why, whylen);
}

void gw_remove_files(struct gw *g, const char *name) {
	static const char *const subs[] = { "keys", "hostkeys", "stopped", "woken" };
	char path[PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (state_path(g, subs[i], name, NULL, path, sizeof(path)) == 0) {
			unlink(path);
		}
	}
	if (state_path(g, "hostkeys", name, ".pub", path, sizeof(path)) == 0) {
		unlink(path);
	}
}

void gw_host_public_key(struct gw *g, const char *name, char *out, size_t outlen) {
	char buf[1200];

	out[0] = '\0';
	if (read_line(g, "hostkeys", name, ".pub", "\r\n", buf, sizeof(buf)) == 0) {
		snprintf(out, outlen, "%s", buf);
	}
}
