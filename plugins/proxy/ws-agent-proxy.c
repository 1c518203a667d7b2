/*
 * ws-agent-proxy - lets the workspace user use keys held by an ssh-agent
 * that runs as another uid (a sidecar), without being able to read them.
 *
 *   ws-agent-proxy --listen SOCKET --agent AGENT_SOCKET --allow-uid UID[,UID...]
 *                  [--max-clients N] [--request-timeout SECONDS]
 *
 * ssh-agent only serves peers of its own uid, so the sidecar runs this
 * next to it: it listens on SOCKET (mode 0666; the peer's uid, from
 * SO_PEERCRED, must be one of --allow-uid) and relays each request to the
 * agent.  Only well-formed "list keys" and "sign" requests pass
 * (agent_filter.c); adding, removing or locking keys, or anything
 * malformed, is answered with SSH_AGENT_FAILURE, so a workspace can use the
 * deploy keys but not replace, remove or lock them.
 *
 * One process serves every client from one poll() loop, so no client can
 * hold up another: each has its own buffer, holds one request at a time,
 * and must finish it (send it, and read the answer) within the request
 * timeout counted from its first byte; a client that trickles is dropped
 * then.  A client between requests costs a file descriptor and no buffer,
 * and may stay; when --max-clients are connected, the one idle longest
 * makes room for a new one, and only when every client is in the middle of
 * a request is the new one refused (closed, with a log line).
 */
#define _GNU_SOURCE /* SO_PEERCRED, struct ucred, accept4 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent_filter.h"

#define DEFAULT_MAX_CLIENTS 1024
#define MAX_UIDS 16
#define DEFAULT_REQUEST_TIMEOUT_S 10
/* Memory for messages in flight, all clients together: a message the
 * budget cannot take drops its client (a real request is a few KiB; the
 * chart's sidecar has 64 MiB for this, ssh-agent and the keys). */
#define BUFFER_BUDGET (16L * 1024 * 1024)
/* Connects beyond it wait (or fail, non-blocking) until the loop accepts,
 * which it does 64 at a time as soon as they come. */
#define LISTEN_BACKLOG 128

static void say(const char *fmt, ...) {
	va_list ap;
	fprintf(stderr, "ws-agent-proxy: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int usage(void) {
	fprintf(stderr, "usage: ws-agent-proxy --listen SOCKET --agent AGENT_SOCKET "
		"--allow-uid UID[,UID...] [--max-clients N] [--request-timeout SECONDS]\n");
	return 2;
}

static int fill_addr(struct sockaddr_un *sa, const char *path) {
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		return -1;
	}
	strcpy(sa->sun_path, path);
	return 0;
}

enum client_state {
	FREE,          /* slot unused */
	READ_REQUEST,  /* reading a request from the client (idle while have == 0) */
	WRITE_AGENT,   /* relaying it to the agent */
	READ_ANSWER,   /* reading the agent's answer */
	WRITE_ANSWER,  /* writing the answer (or our failure) to the client */
};

struct client {
	enum client_state state;
	int fd, agent;           /* agent: -1 until the first relayed request */
	unsigned char head[4];   /* a message's length field, while it arrives */
	unsigned char *buf;      /* the whole message (length field and body) */
	size_t size, have;       /* its size (0: length unknown yet), bytes so far */
	long deadline;           /* ms: the request's end (0 while idle) */
	long idle_since;         /* ms: when its last request ended */
};

static struct client *clients;
static int max_clients = DEFAULT_MAX_CLIENTS, connected;
static long request_timeout_ms = DEFAULT_REQUEST_TIMEOUT_S * 1000L, buffered;
static const char *agent_path;

static long now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void release_buffer(struct client *c) {
	if (c->buf != NULL) {
		buffered -= (long)c->size;
		free(c->buf);
		c->buf = NULL;
	}
	c->size = c->have = 0;
}

static void drop(struct client *c) {
	release_buffer(c);
	close(c->fd);
	if (c->agent >= 0) {
		close(c->agent);
	}
	c->state = FREE;
	connected--;
}

/* Room for a message of size bytes (length field included) in c->buf. */
static int take_buffer(struct client *c, size_t size) {
	if (buffered + (long)size > BUFFER_BUDGET || (c->buf = malloc(size)) == NULL) {
		say("dropped a client: no room for a message of %zu bytes (%ld buffered)", size, buffered);
		return -1;
	}
	buffered += (long)size;
	c->size = size;
	return 0;
}

/* Reads what is there of a message from fd into c: the length field into
 * head, then the whole message into a buffer of its size.  1 when it is
 * complete, 0 when more is to come, -1 on EOF, error or a bad length. */
static int read_some(struct client *c, int fd) {
	ssize_t n;
	long len;

	if (c->size == 0) {
		n = read(fd, c->head + c->have, 4 - c->have);
	} else {
		n = read(fd, c->buf + c->have, c->size - c->have);
	}
	if (n < 0) {
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	}
	if (n == 0) {
		return -1;
	}
	c->have += (size_t)n;
	if (c->size == 0 && c->have == 4) {
		len = ws_agent_frame_length(c->head);
		if (len < 0 || take_buffer(c, 4 + (size_t)len) != 0) {
			return -1;
		}
		memcpy(c->buf, c->head, 4);
	}
	return c->size != 0 && c->have == c->size;
}

/* Writes what fd takes of c->buf; 1 when all is written, 0 for more, -1. */
static int write_some(struct client *c, int fd) {
	ssize_t n = send(fd, c->buf + c->have, c->size - c->have, MSG_NOSIGNAL);
	if (n < 0) {
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	}
	c->have += (size_t)n;
	return c->have == c->size;
}

/* A non-blocking connect: a Unix socket's connect() either completes or
 * fails at once (EAGAIN: the agent's backlog is full), it never waits. */
static int connect_agent(void) {
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || fill_addr(&sa, agent_path) != 0
			|| connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		say("cannot reach the agent at %s: %s", agent_path, strerror(errno));
		if (fd >= 0) {
			close(fd);
		}
		return -1;
	}
	return fd;
}

/* A whole request is in c->buf: on to the agent, or our failure answer. */
static int dispatch(struct client *c) {
	static const unsigned char failure[] = { 0, 0, 0, 1, WS_AGENT_FAILURE };
	size_t len = c->size - 4;
	enum ws_agent_verdict verdict = ws_agent_filter(c->buf + 4, len);

	c->have = 0;
	if (verdict == WS_AGENT_PASS) {
		if (c->agent < 0 && (c->agent = connect_agent()) < 0) {
			return -1;
		}
		c->state = WRITE_AGENT;
		return 0;
	}
	say("refused %sagent request type %u", verdict == WS_AGENT_MALFORMED ? "a malformed " : "",
		c->buf[4]);
	release_buffer(c);
	if (take_buffer(c, sizeof(failure)) != 0) {
		return -1;
	}
	memcpy(c->buf, failure, sizeof(failure));
	c->state = WRITE_ANSWER;
	return 0;
}

/* Whether c is between requests. */
static int idle(const struct client *c) {
	return c->state == READ_REQUEST && c->have == 0 && c->size == 0;
}

/* Moves c on as far as its socket allows; -1 when it is to be dropped. */
static int advance(struct client *c, long now) {
	int r, was_idle;

	switch (c->state) {
	case READ_REQUEST:
		was_idle = idle(c);
		r = read_some(c, c->fd);
		if (was_idle && c->have > 0) {
			c->deadline = now + request_timeout_ms; /* counted from its first byte */
		}
		return r <= 0 ? r : dispatch(c);
	case WRITE_AGENT:
		if ((r = write_some(c, c->agent)) == 1) {
			release_buffer(c);
			c->state = READ_ANSWER;
		}
		return r < 0 ? -1 : 0;
	case READ_ANSWER:
		if ((r = read_some(c, c->agent)) == 1) {
			c->have = 0;
			c->state = WRITE_ANSWER;
		}
		return r < 0 ? -1 : 0;
	case WRITE_ANSWER:
		if ((r = write_some(c, c->fd)) == 1) {
			release_buffer(c);
			c->state = READ_REQUEST;
			c->deadline = 0;
			c->idle_since = now;
		}
		return r < 0 ? -1 : 0;
	default:
		return -1;
	}
}

/* A slot for a new client: a free one, else the one idle longest (closed),
 * else none. */
static struct client *slot(long now) {
	struct client *oldest = NULL;
	int i;

	for (i = 0; i < max_clients; i++) {
		if (clients[i].state == FREE) {
			return &clients[i];
		}
		if (idle(&clients[i]) && (oldest == NULL || clients[i].idle_since < oldest->idle_since)) {
			oldest = &clients[i];
		}
	}
	if (oldest != NULL) {
		say("closed the client idle longest (%ld s) to make room: %d clients connected",
			(now - oldest->idle_since) / 1000, connected);
		drop(oldest);
	}
	return oldest;
}

static int parse_uids(const char *arg, uid_t *uids, int *n) {
	char *end;
	while (*arg != '\0' && *n < MAX_UIDS) {
		unsigned long v = strtoul(arg, &end, 10);
		if (end == arg || (*end != ',' && *end != '\0') || v > 0x7fffffffUL) {
			return -1;
		}
		uids[(*n)++] = (uid_t)v;
		arg = *end == ',' ? end + 1 : end;
	}
	return *arg == '\0' && *n > 0 ? 0 : -1;
}

static int listen_on(const char *path) {
	struct sockaddr_un sa;
	struct stat st;
	int fd;

	if (fill_addr(&sa, path) != 0) {
		say("%s: path too long", path);
		return -1;
	}
	/* a socket left by an earlier run may go; any other file may not */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			say("%s exists and is not a socket", path);
			return -1;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0
			|| chmod(path, 0666) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
		say("cannot listen on %s: %s", path, strerror(errno));
		return -1;
	}
	return fd;
}

static int allowed(int fd, const uid_t *uids, int n) {
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int i;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (cred.uid == uids[i]) {
			return 1;
		}
	}
	say("refused a client with uid %u", (unsigned int)cred.uid);
	return 0;
}

/* Accepts what is waiting: the listener is non-blocking. */
static void accept_clients(int listener, const uid_t *uids, int nuids, long now) {
	static long refusals_logged_at = -1000000;
	static unsigned long refusals;
	struct client *c;
	int i, fd;

	for (i = 0; i < 64 && (fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0; i++) {
		if (!allowed(fd, uids, nuids)) {
			close(fd);
			continue;
		}
		if ((c = slot(now)) == NULL) {
			close(fd);
			refusals++;
			if (now - refusals_logged_at >= 1000) { /* a flood makes one line a second */
				say("refused %lu client(s): all %d clients are in the middle of a request",
					refusals, max_clients);
				refusals = 0;
				refusals_logged_at = now;
			}
			continue;
		}
		memset(c, 0, sizeof(*c));
		c->state = READ_REQUEST;
		c->fd = fd;
		c->agent = -1;
		c->idle_since = now;
		connected++;
	}
}

/* Two descriptors a client (its own, the agent's) and a few more: the soft
 * limit is raised as far as the hard one allows, else fewer clients. */
static int fit_descriptor_limit(void) {
	struct rlimit rl;
	rlim_t need = (rlim_t)max_clients * 2 + 16;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		return 0;
	}
	if (rl.rlim_cur < need) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			getrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	if (rl.rlim_cur < need) {
		max_clients = rl.rlim_cur > 18 ? (int)((rl.rlim_cur - 16) / 2) : 1;
		say("the file descriptor limit (%lu) allows %d clients", (unsigned long)rl.rlim_cur,
			max_clients);
	}
	return 0;
}

static int positive(const char *arg, long max, long *out) {
	char *end;
	long v = strtol(arg, &end, 10);
	if (end == arg || *end != '\0' || v < 1 || v > max) {
		return -1;
	}
	*out = v;
	return 0;
}

int main(int argc, char **argv) {
	const char *listen_path = NULL;
	uid_t uids[MAX_UIDS];
	struct pollfd *pfds;
	int nuids = 0, listener, i;
	long v;

	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--listen") == 0) {
			listen_path = argv[i + 1];
		} else if (strcmp(argv[i], "--agent") == 0) {
			agent_path = argv[i + 1];
		} else if (strcmp(argv[i], "--allow-uid") == 0) {
			if (parse_uids(argv[i + 1], uids, &nuids) != 0) {
				say("--allow-uid: expected numeric uids separated by commas");
				return 2;
			}
		} else if (strcmp(argv[i], "--max-clients") == 0) {
			if (positive(argv[i + 1], 65536, &v) != 0) {
				say("--max-clients: expected a number from 1 to 65536");
				return 2;
			}
			max_clients = (int)v;
		} else if (strcmp(argv[i], "--request-timeout") == 0) {
			if (positive(argv[i + 1], 3600, &v) != 0) {
				say("--request-timeout: expected seconds from 1 to 3600");
				return 2;
			}
			request_timeout_ms = v * 1000;
		} else {
			return usage();
		}
	}
	if (i != argc || listen_path == NULL || agent_path == NULL || nuids == 0) {
		return usage();
	}
	signal(SIGPIPE, SIG_IGN);
	fit_descriptor_limit();
	clients = calloc((size_t)max_clients, sizeof(*clients));
	pfds = calloc((size_t)max_clients + 1, sizeof(*pfds));
	if (clients == NULL || pfds == NULL) {
		say("out of memory for %d clients", max_clients);
		return 1;
	}
	listener = listen_on(listen_path);
	if (listener < 0) {
		return 1;
	}
	say("listening on %s for the agent at %s (up to %d clients)", listen_path, agent_path,
		max_clients);
	for (;;) {
		long now = now_ms(), wait = -1;

		pfds[0].fd = listener;
		pfds[0].events = POLLIN;
		for (i = 0; i < max_clients; i++) {
			const struct client *c = &clients[i];
			int on_agent = c->state == WRITE_AGENT || c->state == READ_ANSWER;
			pfds[i + 1].fd = c->state == FREE ? -1 : on_agent ? c->agent : c->fd;
			pfds[i + 1].events = c->state == WRITE_AGENT || c->state == WRITE_ANSWER ? POLLOUT : POLLIN;
			pfds[i + 1].revents = 0;
			if (c->state != FREE && c->deadline != 0 && (wait < 0 || c->deadline - now < wait)) {
				wait = c->deadline > now ? c->deadline - now : 0;
			}
		}
		if (poll(pfds, (nfds_t)max_clients + 1, (int)wait) < 0 && errno != EINTR) {
			say("poll: %s", strerror(errno));
			return 1;
		}
		now = now_ms();
		for (i = 0; i < max_clients; i++) {
			struct client *c = &clients[i];
			if (c->state == FREE) {
				continue;
			}
			if (pfds[i + 1].revents != 0 && advance(c, now) != 0) {
				drop(c);
			} else if (c->deadline != 0 && now >= c->deadline) {
				say("dropped a client: its request took over %ld s", request_timeout_ms / 1000);
				drop(c);
			}
		}
		if (pfds[0].revents & POLLIN) {
			accept_clients(listener, uids, nuids, now);
		}
	}
}
