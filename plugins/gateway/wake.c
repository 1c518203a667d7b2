/*
 * wake.c - ws-gateway wake USER NAME: make the workspace run (create and
 * start it through the backend as the rules allow), wait until its server
 * says "SSH-2.0-", connect, and pass the connected socket to the server on
 * descriptor 3 -- or the refusal reason as text.  One flock per workspace
 * makes concurrent wakes do one start; an alarm bounds the whole wake.
 */
#define _DEFAULT_SOURCE /* struct addrinfo, CMSG_* */
#include "gw.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PROBE_MS 2000     /* one connect + banner attempt */
#define POLL_STEP_MS 250  /* between status/probe attempts */

static long ms_since(const struct timespec *t0) {
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

static void sleep_ms(long ms) {
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

/* The backend may answer a host name: it is resolved once, here, into the
 * numeric address that both the banner probe and the real connection use.
 * Resolving it for each would let a name that changes in between (DNS
 * rebinding) hand the client a connection to a place never probed.
 * 0, or -1 if it does not resolve. */
static int resolve_once(char *addr, size_t addrlen) {
	struct addrinfo hints, *res = NULL;
	char num[NI_MAXHOST];
	int ok;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(addr, NULL, &hints, &res) != 0 || res == NULL) {
		return -1;
	}
	ok = getnameinfo(res->ai_addr, res->ai_addrlen, num, sizeof(num), NULL, 0,
		NI_NUMERICHOST) == 0 && strlen(num) < addrlen;
	freeaddrinfo(res);
	if (!ok) {
		return -1;
	}
	strcpy(addr, num);
	return 0;
}

/* A connected TCP socket to addr:port (numeric, see resolve_once) within
 * timeout_ms, or -1. */
static int connect_to(const char *addr, unsigned int port, int timeout_ms) {
	struct addrinfo hints, *res = NULL, *ai;
	char portstr[8];
	int fd = -1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", port);
	if (getaddrinfo(addr, portstr, &hints, &res) != 0) {
		return -1;
	}
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		struct pollfd pfd;
		int err = 0;
		socklen_t len = sizeof(err);

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			ai->ai_protocol);
		if (fd < 0) {
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
			close(fd);
			fd = -1;
			continue;
		}
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, timeout_ms) != 1
				|| getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd >= 0) {
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	}
	return fd;
}

/* Does a server answer at addr:port with "SSH-2.0-" (maybe after other
 * lines, RFC 4253 4.2)?  This connection is closed: the client must see
 * the banner of the one it gets.  The probe says its own identification
 * first, as ssh-keyscan does not: a server that waits for a first byte
 * before spending a process on a connection (ours parks silent ones for
 * half a second) answers at once. */
static int banner_ok(const char *addr, unsigned int port) {
	static const char ident[] = "SSH-2.0-ws-gateway-probe\r\n";
	char buf[1024];
	size_t used = 0;
	struct timespec t0;
	int fd = connect_to(addr, port, PROBE_MS), ok = 0;

	if (fd < 0) {
		return 0;
	}
	if (send(fd, ident, sizeof(ident) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(ident) - 1) {
		close(fd);
		return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!ok && used < sizeof(buf) - 1) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		long left = PROBE_MS - ms_since(&t0);
		ssize_t got;
		if (left <= 0 || poll(&pfd, 1, (int)left) != 1) {
			break;
		}
		got = read(fd, buf + used, sizeof(buf) - 1 - used);
		if (got <= 0) {
			break;
		}
		used += (size_t)got;
		buf[used] = '\0';
		ok = strncmp(buf, "SSH-2.0-", 8) == 0 || strstr(buf, "\nSSH-2.0-") != NULL;
	}
	close(fd);
	return ok;
}

struct owned {
	const char *user;
	int n;
};

static void count_cb(void *arg, const char *name, const char *state) {
	struct owned *o = arg;
	(void)state;
	if (ws_gw_owns(o->user, name)) {
		o->n++;
	}
}

int gw_count_owned(struct gw *g, const char *user, char *detail, size_t dlen) {
	struct owned o = { user, 0 };
	if (gw_backend_list(g, count_cb, &o, detail, dlen) != 0) {
		return -1;
	}
	return o.n;
}

static int did_not_start(const char *name, const char *detail, char *reason, size_t rlen) {
	snprintf(reason, rlen, "workspace '%s' did not start: %s", name, detail);
	return -1;
}

/* Called with NAME's lock held; takes USER's lock for the count and the
 * create together, so that concurrent creates of other names of the same
 * user see each other's workspaces and the maximum holds. */
static int create(struct gw *g, const char *user, const char *name, char *reason, size_t rlen) {
	char keys[4200], hostkey[4200], detail[512];
	int n, ulock, ret = -1, mode;
	unsigned int max;

	if (ws_gw_user_limits(&g->cfg, user, &mode, &max, detail, sizeof(detail)) != 0) {
		gw_event(g, "gateway_problem", user, name, "reason", detail, NULL, 0);
		return did_not_start(name, "the gateway's user limits are refused (see the gateway log)",
			reason, rlen);
	}
	if (!ws_gw_may_create(mode, user, name)) {
		snprintf(reason, rlen, "no workspace '%s' for %s", name, user);
		return -1;
	}
	if ((ulock = gw_user_lock(g, user)) < 0) {
		return did_not_start(name, "the gateway cannot lock its user", reason, rlen);
	}
	n = gw_count_owned(g, user, detail, sizeof(detail));
	if (n < 0) {
		did_not_start(name, detail, reason, rlen);
	} else if ((unsigned int)n >= max) {
		snprintf(reason, rlen, "%s has %d workspaces, the most allowed", user, n);
	} else if (gw_prepare_files(g, name, keys, hostkey, sizeof(keys), detail,
				sizeof(detail)) != 0
			|| gw_backend_create(g, name, keys, hostkey, detail, sizeof(detail)) != 0) {
		gw_event(g, "gateway_create", user, name, "result", detail, NULL, 0);
		did_not_start(name, detail, reason, rlen);
	} else {
		gw_clear_stop_reason(g, name);
		gw_event(g, "gateway_create", user, name, "result", "ok", NULL, 0);
		ret = 0;
	}
	close(ulock);
	return ret;
}

static int found_none;

int gw_ensure_found_none(void) {
	return found_none;
}

int gw_ensure_running(struct gw *g, const char *user, const char *name, int start_asked,
		char *addr, size_t addrlen, unsigned int *port, char *reason, size_t rlen) {
	char detail[512], why[600], stopped[16], keys[PATH_MAX];
	enum gw_state state;
	struct timespec t0;
	int created = 0, started = 0;

	if (ws_gw_may_use(&g->cfg, user, name, why, sizeof(why)) != 1) {
		snprintf(reason, rlen, "no workspace '%s' for %s", name, user);
		return -1;
	}
	found_none = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (gw_backend_status(g, name, &state, addr, addrlen, port, detail,
				sizeof(detail)) != 0) {
			return did_not_start(name, detail, reason, rlen);
		}
		if (state == GW_MISSING) {
			if (created || started) {
				return did_not_start(name, "it disappeared while starting", reason, rlen);
			}
			if (create(g, user, name, reason, rlen) != 0) {
				found_none = 1;
				return -1;
			}
			created = 1; /* created stopped or running: the next round sees */
			clock_gettime(CLOCK_MONOTONIC, &t0); /* the wait is for its server */
			continue;
		}
		if (state == GW_STOPPED && !started) {
			gw_stop_reason(g, name, stopped, sizeof(stopped));
			if (strcmp(stopped, "asked") == 0 && !start_asked && !created) {
				snprintf(reason, rlen, "stopped by you: ssh %s start %s",
					gw_ssh_to(g, user), name);
				return -1;
			}
			/* the keys as they are now: a key taken out of the gateway
			 * must not open the workspace again */
			if (gw_write_keys(g, name, keys, sizeof(keys), detail, sizeof(detail)) != 0
					|| gw_backend_do(g, "start", name, detail, sizeof(detail)) != 0) {
				return did_not_start(name, detail, reason, rlen);
			}
			gw_clear_stop_reason(g, name);
			started = 1;
			/* a slow start must not use up the wait for the banner */
			clock_gettime(CLOCK_MONOTONIC, &t0);
			continue;
		}
		if (state == GW_RUNNING && resolve_once(addr, addrlen) == 0
				&& banner_ok(addr, *port)) {
			gw_clear_stop_reason(g, name);
			gw_set_woken(g, name);
			return 0;
		}
		if (ms_since(&t0) + POLL_STEP_MS > (long)g->cfg.gateway.wake_timeout * 1000) {
			snprintf(detail, sizeof(detail), "no SSH server answered within %u s",
				g->cfg.gateway.wake_timeout);
			return did_not_start(name, detail, reason, rlen);
		}
		sleep_ms(POLL_STEP_MS);
	}
}

static char alarm_reason[WS_GW_REASON_MAX];

/* The wake took longer than it may: tell the server why, in the one way
 * that is safe in a signal handler. */
static void on_alarm(int sig) {
	ssize_t ignored;
	pid_t pgid = (pid_t)ws_gw_running_pgid;
	(void)sig;
	/* the backend call under way (podman create, start) must not go on
	 * after the lock is released with this exit: another wake would act
	 * on the same workspace beside it */
	if (pgid > 0) {
		kill(-pgid, SIGKILL);
	}
	ignored = send(3, alarm_reason, strlen(alarm_reason), MSG_NOSIGNAL);
	(void)ignored;
	_exit(1);
}

static int send_socket(int sock) {
	char byte = 0;
	struct iovec iov = { &byte, 1 };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg;
	struct cmsghdr *cm;

	memset(&msg, 0, sizeof(msg));
	memset(&u, 0, sizeof(u));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &sock, sizeof(int));
	return sendmsg(3, &msg, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

int gw_wake_main(struct gw *g, const char *user, const char *name) {
	char addr[300], reason[WS_GW_REASON_MAX], why[600];
	unsigned int port = 0;
	struct timespec t0;
	struct stat st;
	int lock, sock = -1, ok;

	if (fstat(3, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "ws-gateway wake: descriptor 3 must be the server's socket\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* the flock wait, the backend calls and the banner wait together:
	 * create and start may each take wake_timeout, and the banner wait
	 * after them another */
	snprintf(alarm_reason, sizeof(alarm_reason), "workspace '%s' did not start: "
		"timed out", ws_gw_name_valid(name) ? name : "?");
	signal(SIGALRM, on_alarm);
	alarm(g->cfg.gateway.wake_timeout * 3 + 60);

	if (!ws_gw_name_valid(name)) {
		snprintf(reason, sizeof(reason), "'%.64s' is not a workspace name", name);
		ok = -1;
	} else if (ws_gw_may_use(&g->cfg, user, name, why, sizeof(why)) != 1) {
		/* the library checked; checked again before any file is made */
		snprintf(reason, sizeof(reason), "no workspace '%s' for %s", name, user);
		ok = -1;
	} else if ((lock = gw_lock(g, name, 0)) < 0) {
		snprintf(reason, sizeof(reason), "workspace '%s' did not start: %s", name,
			"the gateway cannot lock it");
		ok = -1;
	} else {
		ok = gw_ensure_running(g, user, name, 0, addr, sizeof(addr), &port, reason,
			sizeof(reason));
		if (ok == 0 && (sock = connect_to(addr, port, PROBE_MS)) < 0) {
			snprintf(reason, sizeof(reason), "workspace '%s' did not start: %s", name,
				"it answered, then refused a connection");
			ok = -1;
		}
		gw_unlock(g, name, lock, ok != 0 && gw_ensure_found_none());
	}
	alarm(0);
	if (ok == 0 && send_socket(sock) != 0) {
		snprintf(reason, sizeof(reason), "the connection went away");
		ok = -1;
	} else if (ok != 0 && send(3, reason, strlen(reason), MSG_NOSIGNAL) < 0) {
		/* the channel closed first: nobody to tell */
	}
	gw_event(g, "gateway_wake", user, name, "result", ok == 0 ? "ok" : reason,
		"duration_ms", ms_since(&t0));
	if (sock >= 0) {
		close(sock);
	}
	return ok == 0 ? 0 : 1;
}
