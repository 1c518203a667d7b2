/*
 * ws-park.c - connections waiting in the listener for their first byte (see
 * ws-park.h).  Copied into the upstream tree by the build, like ws-unauth.c;
 * svr-main.c's accept loop calls it.
 */
#include "includes.h"
#include "dbutil.h"
#include "ws-park.h"
#include "ws-unauth.h"

/* Each parked connection is one descriptor in the listener's select() set,
 * as is each childpipe (up to --max-unauth): the two share this many, which
 * leaves room below FD_SETSIZE (1024) for the listening sockets and the
 * rest.  Under a flood of idle connects a parked connection lives as many
 * accepts as the park holds - around 100 ms at the 7,000 a second a flood
 * reached here - far longer than a client takes to send its identification
 * line after the TCP handshake (the two leave the client back to back). */
#define WS_PARK_FD_BUDGET 900
/* A client that waits for the server's identification line before sending
 * its own (ssh-keyscan does) gets its process after this long... */
#define WS_PARK_GRACE_MS 500
/* ...unless the park has been full within this long: then silent
 * connections are a flood's, and would each cost a process. */
#define WS_PARK_CALM_MS 5000
/* At most one log line per this long, however fast the flood. */
#define WS_PARK_LOG_MS 1000
/* Silent connections handed a process per turn of the accept loop: each
 * costs a fork and exec, and a turn must not stall accepts (and pipe reads)
 * for long when many become due at once. */
#define WS_PARK_SILENT_PER_TURN 16

struct parked {
	int fd;
	int in_set;     /* in the fd_set of the last pselect(): FD_ISSET means it */
	long long since;
	struct sockaddr_storage addr;
	socklen_t addrlen;
};
/* arrival order: [0] is the oldest */
static struct parked *park;
static unsigned int nparked, park_max;
static long long last_full = -WS_PARK_CALM_MS, last_log;
static unsigned long closed_total, closed_unlogged;
static unsigned int silent_this_turn;

static long long now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void remove_at(unsigned int i) {
	memmove(&park[i], &park[i + 1], sizeof(park[0]) * (nparked - i - 1));
	nparked--;
}

/* Closes the oldest parked connection to make room (the park is full, or
 * the listener is out of descriptors). */
static void close_oldest(long long now) {
	TRACE(("park: closing fd %d, parked %lld ms", park[0].fd, now - park[0].since))
	close(park[0].fd);
	remove_at(0);
	last_full = now;
	closed_total++;
	closed_unlogged++;
	if (now - last_log >= WS_PARK_LOG_MS) {
		dropbear_log(LOG_NOTICE, "%u connections that sent nothing are waiting: "
			"closed the oldest %lu (%lu in all)",
			park_max, closed_unlogged, closed_total);
		last_log = now;
		closed_unlogged = 0;
	}
}

void ws_park_accept(int listensock) {
	struct parked p;
	long long now;

	p.addrlen = sizeof(p.addr);
	/* close-on-exec: a connection process must not keep the others open */
	p.fd = accept4(listensock, (struct sockaddr *)&p.addr, &p.addrlen, SOCK_CLOEXEC);
	if (p.fd < 0) {
		/* out of descriptors: the connection stays in the backlog and
		 * the listening socket readable, so free one, or pselect() would
		 * return at once forever */
		if ((errno == EMFILE || errno == ENFILE) && nparked > 0) {
			close_oldest(now_ms());
		}
		return;
	}
	if (p.fd >= FD_SETSIZE) {
		/* select() cannot watch it: only reachable if something else
		 * holds hundreds of descriptors */
		close(p.fd);
		return;
	}
	if (park == NULL) {
		park_max = WS_PARK_FD_BUDGET - ws_max_unauth();
		park = m_malloc(sizeof(*park) * park_max);
	}
	now = now_ms();
	if (nparked == park_max) {
		close_oldest(now);
	}
	p.in_set = 0;
	p.since = now;
	park[nparked++] = p;
}

int ws_park_fdset(fd_set *fds, int maxfd) {
	unsigned int i;
	silent_this_turn = 0; /* called once per turn of the accept loop */
	for (i = 0; i < nparked; i++) {
		dropbear_fd_set(park[i].fd, fds);
		park[i].in_set = 1;
		maxfd = MAX(maxfd, park[i].fd);
	}
	return maxfd;
}

/* Silent connections get their process after the grace period while the
 * park is calm, and only into a free slot of the table of unauthenticated
 * connections: a slow flood of silent connects (below the fork rate, so it
 * never fills the park) must not cost a process each, evicting others.
 * When is the next one due, in ms from now (0: now; -1: not while nothing
 * changes - a connection process that ends wakes the listener)? */
static long long next_due(long long now) {
	long long due;
	if (nparked == 0 || ws_unauth_full()) {
		return -1;
	}
	if (silent_this_turn >= WS_PARK_SILENT_PER_TURN) {
		return 0; /* the rest in the next turn, after its accepts */
	}
	due = park[0].since + WS_PARK_GRACE_MS;
	due = MAX(due, last_full + WS_PARK_CALM_MS);
	return MAX(0, due - now);
}

struct timespec *ws_park_timeout(struct timespec *ts) {
	long long due = next_due(now_ms());
	if (due < 0) {
		return NULL;
	}
	ts->tv_sec = due / 1000;
	ts->tv_nsec = (due % 1000) * 1000000;
	return ts;
}

int ws_park_take(const fd_set *fds, struct sockaddr_storage *addr, socklen_t *addrlen,
		int *spoke) {
	long long now = now_ms();
	unsigned int i = 0;

	while (i < nparked) {
		struct parked *p = &park[i];
		int readable = p->in_set && FD_ISSET(p->fd, fds);
		int due = (i == 0 && silent_this_turn < WS_PARK_SILENT_PER_TURN
			&& next_due(now) == 0);
		ssize_t n;
		char c;
		int fd;

		if (!readable && !due) {
			i++;
			continue;
		}
		n = recv(p->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			n = -2; /* nothing yet */
		}
		if (n == 0) {
			/* an EOF: gone, or only done sending (a banner probe such as
			 * `nc -N`, `ncat </dev/null`) - it gets our identification
			 * line, as it would have without the park, and no process */
			if (send(p->fd, LOCAL_IDENT "\r\n", strlen(LOCAL_IDENT "\r\n"),
					MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
				/* gone for good: nothing to tell it */
			}
		}
		if (n == 0 || n == -1) {
			close(p->fd);
			remove_at(i);
			continue;
		}
		if (n == -2 && !due) {
			i++;
			continue;
		}
		fd = p->fd;
		memcpy(addr, &p->addr, MIN(p->addrlen, (socklen_t)sizeof(*addr)));
		*addrlen = p->addrlen;
		*spoke = n > 0;
		if (!*spoke) {
			silent_this_turn++;
		}
		remove_at(i);
		return fd;
	}
	return -1;
}

void ws_park_close_all(void) {
	while (nparked > 0) {
		close(park[--nparked].fd);
	}
}
