/*
 * ws-route.c - direct-tcpip routes from the hook library (ws-route.h).
 *
 * The gateway cannot connect a jump to a workspace at once: the workspace
 * may have to start first, which takes seconds.  The library answers
 * "pending" with a descriptor and works elsewhere (a process of its own);
 * this file keeps the (channel, descriptor) pairs, the session's main loop
 * watches the descriptors with its other ones, so keepalives and the other
 * channels go on, and the answer - a connected socket (SCM_RIGHTS) or a
 * refusal reason - completes the channel open as upstream's deferred
 * connect() does (channel_connect_done()).
 *
 * What arrives on a descriptor is checked as untrusted: one message, at most
 * one descriptor and it must be a socket, reason text cut to
 * WS_ROUTE_REASON_MAX and made printable ASCII before the client sees it.
 */
#include "includes.h"
#include "dbutil.h"
#include "session.h"
#include "channel.h"
#include "netio.h"
#include "ws-glue.h"
#include "ws_hook.h"
#include "ws-route.h"

#include <sys/socket.h>

/* Descriptors accepted in one answer: one is right; room for a few more so
 * that extra ones arrive (and are closed) instead of being cut off. */
#define WS_ROUTE_MAX_FDS 4

/* Said when the library gives no reason of its own. */
#define WS_ROUTE_FAILED "route failed"

struct pending_route {
	struct Channel *channel;
	int fd;
};

static struct pending_route pending[WS_ROUTE_MAX_PENDING];
static unsigned int npending;

/* The text the client gets: printable ASCII only (it is shown on the
 * user's terminal by their client), at most WS_ROUTE_REASON_MAX bytes. */
static void sanitize(const char *in, size_t inlen, char *out, size_t outsize) {
	size_t i, n = MIN(inlen, MIN((size_t)WS_ROUTE_REASON_MAX, outsize - 1));

	for (i = 0; i < n && in[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)in[i];
		out[i] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	out[i] = '\0';
}

static void drop(unsigned int i) {
	m_close(pending[i].fd);
	pending[i] = pending[npending - 1];
	npending--;
}

int ws_route_direct(struct Channel *channel, const char *host, unsigned int hostlen,
		unsigned int port) {
	void *ctx;
	struct ws_conn c;
	const struct ws_hooks *h = ws_hooks_for_call(&ctx, &c);
	char reason[WS_ROUTE_REASON_MAX + 1], text[WS_ROUTE_REASON_MAX + 1];
	int fd = -1, ret;

	if (!WS_HOOK_CALLABLE(h, tcp_route)) {
		return WS_ROUTE_UPSTREAM;
	}
	/* a NUL inside would make the library check one name and the log
	 * show another */
	if (strlen(host) != hostlen) {
		return SSH_OPEN_ADMINISTRATIVELY_PROHIBITED;
	}
	if (npending >= WS_ROUTE_MAX_PENDING) {
		dropbear_log(LOG_WARNING, "direct-tcpip to %s:%u refused: %d connections already wait for a route",
			host, port, WS_ROUTE_MAX_PENDING);
		channel_set_open_failure_text("too many connections waiting");
		return SSH_OPEN_RESOURCE_SHORTAGE;
	}
	memset(reason, 0, sizeof(reason));
	ret = h->tcp_route(ctx, &c, host, port, &fd, reason, sizeof(reason));
	switch (ret) {
	case WS_ROUTE_DEFAULT:
		return WS_ROUTE_UPSTREAM;
	case WS_ROUTE_REFUSE:
		sanitize(reason, sizeof(reason) - 1, text, sizeof(text));
		dropbear_log(LOG_INFO, "direct-tcpip to %s:%u refused by the hook library: %s",
			host, port, text);
		channel_set_open_failure_text(text);
		return SSH_OPEN_ADMINISTRATIVELY_PROHIBITED;
	case WS_ROUTE_PENDING:
		/* select() cannot watch a descriptor at or past FD_SETSIZE, and
		 * dropbear_fd_set() would end the connection over it */
		if (fd < 0 || fd >= FD_SETSIZE) {
			dropbear_log(LOG_ERR, "Hook library's tcp_route: pending with descriptor %d", fd);
			m_close(fd);
			channel_set_open_failure_text(WS_ROUTE_FAILED);
			return SSH_OPEN_CONNECT_FAILED;
		}
		/* the main loop must never wait on it; sessions started
		 * meanwhile must not inherit it */
		setnonblocking(fd);
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		pending[npending].channel = channel;
		pending[npending].fd = fd;
		npending++;
		channel->ws_open_pending = 1; /* no keepalive on it until answered */
		ses.maxfd = MAX(ses.maxfd, fd);
		return SSH_OPEN_IN_PROGRESS;
	default:
		dropbear_log(LOG_ERR, "Hook library's tcp_route: unknown answer %d", ret);
		channel_set_open_failure_text(WS_ROUTE_FAILED);
		return SSH_OPEN_ADMINISTRATIVELY_PROHIBITED;
	}
}

char *ws_route_getstring(struct buf *buf, unsigned int *len) {
	unsigned int n = buf_getint(buf);
	/* buf_getptr() ends the connection if n passes the packet's end: a
	 * length that lies is a protocol error, as upstream treats it */
	const unsigned char *src = buf_getptr(buf, n);
	char *ret = m_malloc(n + 1);

	memcpy(ret, src, n);
	buf_incrpos(buf, n);
	ret[n] = '\0';
	*len = n;
	return ret;
}

int ws_route_long_host(const char *host, unsigned int hostlen, unsigned int port) {
	void *ctx;
	struct ws_conn c;
	const struct ws_hooks *h = ws_hooks_for_call(&ctx, &c);
	char reason[WS_ROUTE_REASON_MAX + 1], text[WS_ROUTE_REASON_MAX + 1];
	int fd = -1, ret;

	dropbear_log(LOG_INFO, "direct-tcpip to a host name of %u bytes refused", hostlen);
	if (!WS_HOOK_CALLABLE(h, tcp_route) || strlen(host) != hostlen) {
		return SSH_OPEN_ADMINISTRATIVELY_PROHIBITED; /* upstream's answer */
	}
	memset(reason, 0, sizeof(reason));
	ret = h->tcp_route(ctx, &c, host, port, &fd, reason, sizeof(reason));
	if (ret == WS_ROUTE_REFUSE) {
		sanitize(reason, sizeof(reason) - 1, text, sizeof(text));
		channel_set_open_failure_text(text);
	} else if (ret == WS_ROUTE_PENDING) {
		m_close(fd); /* no name that long is a workspace's: never waited for */
	}
	return SSH_OPEN_ADMINISTRATIVELY_PROHIBITED;
}

void ws_route_set_fds(fd_set *readfds) {
	unsigned int i;

	for (i = 0; i < npending; i++) {
		dropbear_fd_set(pending[i].fd, readfds);
	}
}

/* The descriptors of one message's SCM_RIGHTS parts, into fds; returns how
 * many (those past max are closed here). */
static unsigned int received_fds(struct msghdr *msg, int *fds, unsigned int max) {
	struct cmsghdr *cm;
	unsigned int n = 0;

	for (cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
		size_t k, count;
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS
				|| cm->cmsg_len < CMSG_LEN(0)) {
			continue;
		}
		count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < count; k++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + k * sizeof(int), sizeof(int));
			if (n < max) {
				fds[n] = fd;
			} else {
				m_close(fd);
			}
			n++;
		}
	}
	return n;
}

/* Is fd a socket select() can watch?  The channel relays in both
 * directions through it, as through upstream's connected socket. */
static int usable_socket(int fd) {
	struct stat st;
	return fd >= 0 && fd < FD_SETSIZE && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* The answer for pending[i]: completes or refuses its channel open. */
static void take_answer(unsigned int i) {
	struct Channel *channel = pending[i].channel;
	char buf[WS_ROUTE_REASON_MAX + 1], text[WS_ROUTE_REASON_MAX + 1];
	const char *why = WS_ROUTE_FAILED;
	union {
		struct cmsghdr align;
		char space[CMSG_SPACE(sizeof(int) * WS_ROUTE_MAX_FDS)];
	} control;
	struct iovec iov;
	struct msghdr msg;
	int fds[WS_ROUTE_MAX_FDS], flags = MSG_DONTWAIT;
	unsigned int nfds, k;
	ssize_t n;

	memset(&msg, 0, sizeof(msg));
	memset(&control, 0, sizeof(control));
	iov.iov_base = buf;
	iov.iov_len = sizeof(buf) - 1;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = control.space;
	msg.msg_controllen = sizeof(control.space);
#ifdef MSG_CMSG_CLOEXEC
	flags |= MSG_CMSG_CLOEXEC;
#endif
	n = recvmsg(pending[i].fd, &msg, flags);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		return; /* not for us after all: next time round */
	}
	nfds = n < 0 ? 0 : received_fds(&msg, fds, WS_ROUTE_MAX_FDS);
	drop(i);
	channel->ws_open_pending = 0; /* confirmed or refused just below */

	if (nfds == 1 && !(msg.msg_flags & MSG_CTRUNC) && usable_socket(fds[0])) {
		(void)fcntl(fds[0], F_SETFD, FD_CLOEXEC);
		setnonblocking(fds[0]);
		set_sock_nodelay(fds[0]);
		ses.maxfd = MAX(ses.maxfd, fds[0]);
		/* exactly upstream's path for a deferred connect() that succeeded:
		 * the socket becomes the channel's, the open is confirmed */
		channel_connect_done(DROPBEAR_SUCCESS, fds[0], channel, NULL);
		return;
	}
	for (k = 0; k < MIN(nfds, (unsigned int)WS_ROUTE_MAX_FDS); k++) {
		m_close(fds[k]);
	}
	if (n < 0) {
		dropbear_log(LOG_ERR, "Hook library's pending route: %s", strerror(errno));
	} else if (nfds > 0) {
		dropbear_log(LOG_ERR, "Hook library's pending route: %u descriptors, not one socket", nfds);
	} else if (n > 0) {
		sanitize(buf, (size_t)n, text, sizeof(text));
		if (text[0] != '\0') {
			why = text;
		}
	} /* else closed without an answer */
	dropbear_log(LOG_INFO, "direct-tcpip refused by the hook library: %s", why);
	channel_open_refused(channel, SSH_OPEN_ADMINISTRATIVELY_PROHIBITED, why);
}

void ws_route_handle_fds(const fd_set *readfds) {
	unsigned int i = 0;

	/* take_answer() removes entry i (the last one moves into its place) */
	while (i < npending) {
		unsigned int before = npending;
		if (FD_ISSET(pending[i].fd, readfds)) {
			take_answer(i);
		}
		if (npending == before) {
			i++;
		}
	}
}

void ws_route_channel_cleanup(const struct Channel *channel) {
	unsigned int i;

	for (i = 0; i < npending; i++) {
		if (pending[i].channel == channel) {
			drop(i);
			return;
		}
	}
}
