/*
 * agent.c - one stable SSH_AUTH_SOCK per user that survives reconnects.
 *
 * Every session gets SSH_AUTH_SOCK = AGENT_DIR/agent.sock, a symlink that
 * points at a live agent: the newest forwarded one of any connection, else
 * the workspace agent (agent_workspace_socket), else nothing (removed).
 * Connection processes keep a registry in the same private directory, one
 * symlink per forwarded socket, named after the process that owns it:
 *
 *     fwd.PID.STARTTIME.CHANNEL -> /tmp/dropbear-XXXX/auth-YYYY-N
 *
 * Whoever changes the registry repoints agent.sock under an flock(), so
 * concurrent connection processes never leave it at a dead socket.  An
 * entry is live while its process (same pid and start time) runs and the
 * socket exists; dead entries (a process that was killed) are pruned by
 * the next process that looks, at the latest at the next session start.
 *
 * The lock is a file any process of the workspace uid can open and flock
 * (`flock AGENT_DIR/.lock sleep 1d`), so it is waited for at most
 * LOCK_WAIT_MS: past that the session starts without the stable link (its
 * SSH_AUTH_SOCK is upstream's per-session socket, if it forwards an agent)
 * and the connection logs an agent_problem once.
 */
#define _DEFAULT_SOURCE /* flock, lstat/readlink/symlink */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "plugin.h"

/* Without agent_dir: in the runtime directory the server was started with,
 * else in /tmp under the server's uid (default_agent_dir). */
#define RUNTIME_AGENT_DIR "ssh-workspace-agent"
#define TMP_AGENT_DIR "/tmp/ssh-workspace-agent-"
#define LINK_NAME "agent.sock"
/* The registry lock is held for a directory scan and a few renames, well
 * under a millisecond; a holder past LOCK_WAIT_MS is stuck or hostile. */
#define LOCK_WAIT_MS 200
#define LOCK_RETRY_MS 5

/* The start time (in clock ticks since boot) of a process, 0 if gone:
 * with the pid it names the process even after the pid is reused. */
static unsigned long long start_time(long pid) {
	char path[64], buf[1024];
	unsigned long long t = 0;
	const char *p;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return 0;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		return 0;
	}
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* the command name may hold spaces and ')' */
	/* after ") " come state (field 3) ... starttime (field 22) */
	for (field = 2; p != NULL && field < 22; field++) {
		p = strchr(p + 1, ' ');
	}
	if (p != NULL) {
		t = strtoull(p + 1, NULL, 10);
	}
	return t;
}

/* $XDG_RUNTIME_DIR/ssh-workspace-agent when the server's environment names
 * a runtime directory that is ours with mode 0700 (as the XDG spec requires;
 * one inherited from root's login, say, is not), else
 * /tmp/ssh-workspace-agent-UID (also when the runtime path would be too
 * long).  The uid, not the user name: two servers for the same name under
 * different uids (two people's `make run`, a developer and CI) must not meet
 * in one directory.  Each connection looks again, as it is a process of its
 * own: a runtime directory removed while the server runs moves the link. */
static int default_agent_dir(char *out, size_t outlen) {
	const char *runtime = getenv("XDG_RUNTIME_DIR");
	struct stat st;
	int n;

	if (runtime != NULL && runtime[0] == '/' && lstat(runtime, &st) == 0 && S_ISDIR(st.st_mode)
			&& st.st_uid == geteuid() && (st.st_mode & 0777) == 0700) {
		n = snprintf(out, outlen, "%s/" RUNTIME_AGENT_DIR, runtime);
		if (n > 0 && (size_t)n < outlen) {
			return 0;
		}
	}
	n = snprintf(out, outlen, TMP_AGENT_DIR "%u", (unsigned int)geteuid());
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* Creates the directory, or checks the one that is there: ours, a real
 * directory (not a symlink someone planted in /tmp), no access for others. */
static int prepare_dir(struct ws_plugin *p, const struct ws_session *s) {
	struct stat st;
	char why[160];
	/* room left for "/agent.sock.tmp.PID" */
	size_t room = sizeof(p->agent_dir) - 32;

	if (p->agent_dir_state != 0) {
		return p->agent_dir_state > 0 ? 0 : -1;
	}
	p->agent_dir_state = -1;
	if (p->cfg.agent.dir == NULL ? default_agent_dir(p->agent_dir, room) != 0
			: ws_expand_user_path(p->cfg.agent.dir, s->conn->user, p->agent_dir, room) != 0) {
		ws_events_agent_problem(p, s, "agent_dir", p->cfg.agent.dir, "cannot expand %u for this user, or too long");
		return -1;
	}
	if (mkdir(p->agent_dir, 0700) != 0 && errno != EEXIST) {
		ws_events_agent_problem(p, s, "agent_dir", p->agent_dir, strerror(errno));
		return -1;
	}
	if (lstat(p->agent_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		ws_events_agent_problem(p, s, "agent_dir", p->agent_dir,
			"not a directory: remove it, or set agent_dir in the hook config");
		return -1;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		snprintf(why, sizeof(why), "owned by uid %u with mode %03o; must be ours (uid %u) with mode 0700: "
			"remove it, or set agent_dir in the hook config",
			(unsigned int)st.st_uid, (unsigned int)(st.st_mode & 0777), (unsigned int)geteuid());
		ws_events_agent_problem(p, s, "agent_dir", p->agent_dir, why);
		return -1;
	}
	p->agent_dir_state = 1;
	return 0;
}

/* Once per connection: every session start looks again.  A connection
 * that is ending says nothing: it has no session left to miss the agent,
 * and the next session start (of any connection) says it. */
static void log_workspace_problem(struct ws_plugin *p, const struct ws_session *s, const char *why) {
	if (!p->agent_workspace_logged && !p->agent_disconnecting) {
		p->agent_workspace_logged = 1;
		ws_events_agent_problem(p, s, "workspace_socket", p->cfg.agent.workspace_socket, why);
	}
}

static long elapsed_ms(const struct timespec *since) {
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* The registry lock, waited for at most LOCK_WAIT_MS (see the top): a
 * non-blocking flock retried, as flock has no timeout of its own and an
 * alarm would disturb the server's signal handling. */
static int lock_dir(struct ws_plugin *p, const struct ws_session *s) {
	const struct timespec pause = { 0, LOCK_RETRY_MS * 1000000L };
	struct timespec start;
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/.lock", p->agent_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if ((errno != EWOULDBLOCK && errno != EINTR) || elapsed_ms(&start) >= LOCK_WAIT_MS) {
			if (errno == EWOULDBLOCK && !p->agent_lock_logged && !p->agent_disconnecting) {
				p->agent_lock_logged = 1;
				ws_events_agent_problem(p, s, "agent_lock", path,
					"held by another process for over 200 ms: sessions start without "
					"the stable link (SSH_AUTH_SOCK is their own forwarded socket) "
					"until it is released");
			}
			close(fd);
			return -1;
		}
		nanosleep(&pause, NULL);
	}
	return fd;
}

static int is_socket(const char *path) {
	struct stat st;
	return stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* The workspace agent is usable when something accepts connections on it.
 * (A forwarded socket is not probed this way: each connect would open an
 * agent channel to the client.)  The probe never blocks: connect() on a
 * blocking Unix socket waits for room in the listener's backlog, so a
 * sidecar that stopped accepting (hung, stopped) would hold every session
 * start, and the registry lock with it, for as long as it stays hung. */
static int workspace_agent_usable(struct ws_plugin *p, const struct ws_session *s) {
	const char *path = p->cfg.agent.workspace_socket;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, ok;

	if (path == NULL) {
		return 0;
	}
	if (!is_socket(path)) {
		log_workspace_problem(p, s, errno == ENOENT ? "no such socket" : "not a socket");
		return 0;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (!ok) {
		log_workspace_problem(p, s, errno == EAGAIN
			? "not accepting connections (its backlog is full)" : strerror(errno));
	}
	if (fd >= 0) {
		close(fd);
	}
	return ok;
}

/* Is registry entry `name` (fwd.PID.START.CHAN) live?  Sets its target. */
static int entry_live(const struct ws_plugin *p, const char *name, char *target, size_t len) {
	char path[PATH_MAX];
	long pid;
	unsigned long long start;
	ssize_t n;

	if (sscanf(name, "fwd.%ld.%llu.", &pid, &start) != 2 || start_time(pid) != start) {
		return 0;
	}
	snprintf(path, sizeof(path), "%s/%s", p->agent_dir, name);
	n = readlink(path, target, len - 1);
	if (n <= 0) {
		return 0;
	}
	target[n] = '\0';
	return is_socket(target);
}

/* Points agent.sock at the best live agent, pruning dead entries.  Called
 * with the lock held. */
static void repoint(struct ws_plugin *p, const struct ws_session *s) {
	char best[PATH_MAX] = "", target[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX], old[PATH_MAX];
	struct timespec best_time = { 0, 0 };
	struct dirent *de;
	DIR *dir = opendir(p->agent_dir);
	const char *chosen = NULL;
	ssize_t n;

	while (dir != NULL && (de = readdir(dir)) != NULL) {
		struct stat st;
		if (strncmp(de->d_name, "fwd.", 4) != 0) {
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", p->agent_dir, de->d_name);
		if (!entry_live(p, de->d_name, target, sizeof(target))) {
			unlink(path);
			continue;
		}
		if (lstat(path, &st) == 0 && (st.st_mtim.tv_sec > best_time.tv_sec
				|| (st.st_mtim.tv_sec == best_time.tv_sec && st.st_mtim.tv_nsec >= best_time.tv_nsec))) {
			best_time = st.st_mtim;
			snprintf(best, sizeof(best), "%s", target);
		}
	}
	if (dir != NULL) {
		closedir(dir);
	}
	if (best[0] != '\0') {
		chosen = best;
	} else if (workspace_agent_usable(p, s)) {
		chosen = p->cfg.agent.workspace_socket;
	}
	snprintf(path, sizeof(path), "%s/" LINK_NAME, p->agent_dir);
	n = readlink(path, old, sizeof(old) - 1);
	old[n > 0 ? n : 0] = '\0';
	if (chosen == NULL) {
		if (unlink(path) == 0) {
			ws_events_agent_link(p, s, NULL);
		}
		return;
	}
	if (strcmp(old, chosen) == 0) {
		return;
	}
	/* a new link renamed over the old one: readers see one or the other */
	snprintf(tmp, sizeof(tmp), "%s/" LINK_NAME ".tmp.%ld", p->agent_dir, (long)getpid());
	unlink(tmp);
	if (symlink(chosen, tmp) != 0 || rename(tmp, path) != 0) {
		ws_events_agent_problem(p, s, "agent_link", path, strerror(errno));
		unlink(tmp);
		return;
	}
	ws_events_agent_link(p, s, chosen);
}

enum registry_change {
	REGISTRY_KEEP,        /* only repoint */
	REGISTRY_ADD,         /* this channel forwards an agent */
	REGISTRY_REMOVE,      /* this channel's forwarded agent is gone */
	REGISTRY_REMOVE_ALL,  /* this connection ends */
};

static void remove_entries(const struct ws_plugin *p, const char *prefix) {
	char entry[PATH_MAX];
	struct dirent *de;
	DIR *dir = opendir(p->agent_dir);

	while (dir != NULL && (de = readdir(dir)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
			snprintf(entry, sizeof(entry), "%s/%s", p->agent_dir, de->d_name);
			unlink(entry);
		}
	}
	if (dir != NULL) {
		closedir(dir);
	}
}

/* Adds (target set) or removes this process's entry for channel. */
static void set_entry(struct ws_plugin *p, const struct ws_session *s, unsigned int channel,
		const char *target) {
	char entry[PATH_MAX];

	snprintf(entry, sizeof(entry), "%s/fwd.%ld.%llu.%u", p->agent_dir, (long)getpid(),
		start_time(getpid()), channel);
	unlink(entry);
	if (target != NULL && symlink(target, entry) != 0) {
		ws_events_agent_problem(p, s, "agent_registry", entry, strerror(errno));
	}
}

/* Changes the registry and repoints agent.sock, under the lock.  Without
 * the lock (held too long by someone else) nothing changes, this session
 * goes without the stable link, and a forwarded agent it could not add is
 * added by the next update of this connection that gets the lock. */
static void update(struct ws_plugin *p, const struct ws_session *s, enum registry_change change,
		const char *target) {
	char prefix[64];
	int lock;

	if (change == REGISTRY_ADD) {
		snprintf(p->agent_pending, sizeof(p->agent_pending), "%s", target);
		p->agent_pending_channel = s->channel;
	} else if (change != REGISTRY_KEEP && p->agent_pending[0] != '\0'
			&& (change == REGISTRY_REMOVE_ALL || p->agent_pending_channel == s->channel)) {
		p->agent_pending[0] = '\0';
	}
	p->agent_unlinked = 1;
	if (prepare_dir(p, s) != 0 || (lock = lock_dir(p, s)) < 0) {
		return;
	}
	if (change == REGISTRY_REMOVE_ALL) {
		snprintf(prefix, sizeof(prefix), "fwd.%ld.", (long)getpid());
		remove_entries(p, prefix);
	} else if (change == REGISTRY_REMOVE) {
		set_entry(p, s, s->channel, NULL);
	}
	if (p->agent_pending[0] != '\0') {
		set_entry(p, s, p->agent_pending_channel, p->agent_pending);
		p->agent_pending[0] = '\0';
	}
	repoint(p, s);
	close(lock); /* releases the flock */
	p->agent_unlinked = 0;
}

static int agent_enabled(const struct ws_plugin *p) {
	return p->cfg.agent.forwarding || p->cfg.agent.workspace_socket != NULL;
}

int ws_agent_request(struct ws_plugin *p, const struct ws_session *s) {
	(void)s;
	return p->cfg.agent.forwarding ? WS_HOOK_ACCEPT : WS_HOOK_REFUSE;
}

void ws_agent_socket(struct ws_plugin *p, const struct ws_session *s, const char *path, int opened) {
	if (agent_enabled(p)) {
		update(p, s, opened ? REGISTRY_ADD : REGISTRY_REMOVE, path);
	}
}

void ws_agent_session_prepare(struct ws_plugin *p, const struct ws_session *s) {
	if (agent_enabled(p)) {
		update(p, s, REGISTRY_KEEP, NULL);
	}
}

void ws_agent_disconnect(struct ws_plugin *p, const struct ws_conn *c) {
	struct ws_session s = { sizeof(s), c, 0, NULL, NULL, NULL, 0 };
	p->agent_disconnecting = 1;
	if (agent_enabled(p) && p->agent_dir_state > 0) {
		update(p, &s, REGISTRY_REMOVE_ALL, NULL);
	}
}

const char *ws_agent_env_path(struct ws_plugin *p, const struct ws_session *s, int key_allows) {
	static char path[PATH_MAX];
	(void)s;
	if (!agent_enabled(p) || !key_allows || p->agent_dir_state <= 0 || p->agent_unlinked) {
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/" LINK_NAME, p->agent_dir);
	return path;
}
