/*
 * activity.c - the activity record: one small JSON file per live connection
 * in `activity_dir`, for an idle-culler or a readiness check (format in
 * docs/events.md, "Activity record").
 *
 * One file per connection, each written only by its own connection process
 * and replaced with rename(): readers never see a partial record and
 * writers never contend for a lock.  Rewrites are rate-limited to one per
 * `activity_interval` seconds, so busy sessions cost almost nothing; the
 * recorded last activity is then at most that much older than the truth.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin.h"

#define CAP_NAME 256

static int64_t wall_ms(void) {
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static time_t mono_s(void) {
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec;
}

/* dir/NAME with a length check; 0 or -1. */
static int record_path(char *out, size_t outlen, const char *dir, const char *prefix,
		const char *session) {
	int n = snprintf(out, outlen, "%s/%s%s.json", dir, prefix, session);
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* A record that cannot be written (a full or read-only volume) would make
 * a live connection look gone to an idle-culler: said once per connection,
 * with errno's reason.  Later rewrites are still tried. */
static void record_failed(struct ws_plugin *p, const struct ws_conn *c, const char *path,
		const char *what) {
	char why[160];

	if (p->activity.problem_logged) {
		return;
	}
	p->activity.problem_logged = 1;
	snprintf(why, sizeof(why), "%s: %s", what, strerror(errno));
	ws_events_activity_problem(p, c, path, why);
}

static void write_record(struct ws_plugin *p, const struct ws_conn *c) {
	struct ws_activity_state *a = &p->activity;
	char tmp[4200];
	struct ws_event ev;
	size_t len;
	ssize_t w;
	int fd;

	if (record_path(tmp, sizeof(tmp), p->cfg.activity_dir, ".", c->session_id) != 0) {
		return;
	}
	ws_event_begin(&ev, "activity");
	ws_event_str(&ev, "session", c->session_id, CAP_NAME);
	ws_event_int(&ev, "pid", c->pid);
	ws_event_str(&ev, "client", c->client_addr, CAP_NAME);
	ws_event_str(&ev, "client_port", c->client_port, CAP_NAME);
	ws_event_str(&ev, "user", c->user, CAP_NAME);
	ws_event_int(&ev, "connected_ms", a->connected_ms);
	ws_event_int(&ev, "last_activity_ms", a->last_activity_ms);
	ws_event_uint(&ev, "channels", a->channels);
	len = ws_event_end(&ev);

	/* 0644: a culler in a sidecar (another uid) reads it; nothing in it is
	 * secret.  O_NOFOLLOW: the directory may be shared with other uids. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		record_failed(p, c, a->path, "cannot create");
		a->written_at = mono_s();
		return;
	}
	w = write(fd, ev.buf, len);
	if (w != (ssize_t)len) {
		int saved = w < 0 ? errno : ENOSPC; /* a short write: the volume is full */
		close(fd);
		unlink(tmp);
		errno = saved;
		record_failed(p, c, a->path, "cannot write");
	} else if (close(fd) != 0) {
		int saved = errno;
		unlink(tmp);
		errno = saved;
		record_failed(p, c, a->path, "cannot write");
	} else if (rename(tmp, a->path) != 0) {
		int saved = errno;
		unlink(tmp);
		errno = saved;
		record_failed(p, c, a->path, "cannot replace");
	}
	a->written_at = mono_s();
}

/* Records whose process is gone (killed, or a crashed node's leftovers on a
 * kept volume) would count as live connections: the listener drops them. */
static void remove_stale(const char *dir) {
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4200], buf[512];

	if (d == NULL) {
		return;
	}
	while ((e = readdir(d)) != NULL) {
		const char *pid_field;
		ssize_t n;
		long pid = 0;
		int fd;
		size_t nlen = strlen(e->d_name);

		if (nlen < 6 || strcmp(e->d_name + nlen - 5, ".json") != 0
				|| snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path)) {
			continue;
		}
		if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
			continue;
		}
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		pid_field = strstr(buf, "\"pid\":");
		if (pid_field != NULL) {
			pid = strtol(pid_field + 6, NULL, 10);
		}
		if (e->d_name[0] == '.' || pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH)) {
			unlink(path);
		}
	}
	closedir(d);
}

int ws_activity_startup(struct ws_plugin *p, char *err, size_t errlen) {
	struct stat st;
	const char *dir = p->cfg.activity_dir;

	if (dir == NULL) {
		return 0;
	}
	if (p->is_listener) {
		/* the parent must exist: a typo should not grow a new tree */
		if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "activity_dir %s: %s", dir, strerror(errno));
			return -1;
		}
		remove_stale(dir);
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK) != 0) {
		snprintf(err, errlen, "activity_dir %s: not a writable directory", dir);
		return -1;
	}
	return 0;
}

void ws_activity_connect(struct ws_plugin *p, const struct ws_conn *c) {
	struct ws_activity_state *a = &p->activity;

	if (p->cfg.activity_dir == NULL
			|| record_path(a->path, sizeof(a->path), p->cfg.activity_dir, "", c->session_id) != 0) {
		return;
	}
	a->active = 1;
	a->connected_ms = a->last_activity_ms = wall_ms();
	write_record(p, c);
}

void ws_activity_auth(struct ws_plugin *p, const struct ws_conn *c) {
	if (p->activity.active) {
		p->activity.last_activity_ms = wall_ms();
		write_record(p, c);
	}
}

void ws_activity_update(struct ws_plugin *p, const struct ws_conn *c,
		const struct ws_activity *act) {
	struct ws_activity_state *a = &p->activity;
	int channels_changed;

	if (!a->active) {
		return;
	}
	channels_changed = WS_HOOK_HAS(act, struct ws_activity, channels) && act->channels != a->channels;
	if (WS_HOOK_HAS(act, struct ws_activity, channels)) {
		a->channels = act->channels;
	}
	if (act->last_activity_ms > a->last_activity_ms) {
		a->last_activity_ms = act->last_activity_ms;
	}
	/* a session opening or closing is news at once; data is rate-limited */
	if (channels_changed || mono_s() - a->written_at >= (time_t)p->cfg.activity_interval) {
		write_record(p, c);
	}
}

void ws_activity_disconnect(struct ws_plugin *p) {
	if (p->activity.active) {
		unlink(p->activity.path);
		p->activity.active = 0;
	}
}
