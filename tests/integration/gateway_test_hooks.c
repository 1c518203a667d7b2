/*
 * gateway_test_hooks.c - a hook library for test_gateway_hooks.py: the
 * gateway callbacks (user_lookup, authorized_keys, tcp_route) with fixed,
 * predictable answers, so the tests see what the server does with each.
 *
 * Config (--hook-config), one "key value" a line:
 *   keys_dir DIR   DIR/USER holds USER's authorized_keys lines
 *   target PORT    where "slow" connects (127.0.0.1)
 *   delay_ms N     how long a pending route waits before it answers
 *   log FILE       one line per call, for the test to read
 *
 * Users: alice and bob exist, nobody else.  Routes by host name:
 *   nope     refused: "no workspace 'nope' for USER"
 *   slow     pending; after delay_ms a socket connected to target
 *   slowno   pending; after delay_ms a refusal text with control bytes
 *   silent   pending; never answers (until the server closes its end)
 *   anything else: the server's own connect
 * A pending route's answer comes from a grandchild (so the server never
 * reaps it as one of its sessions), which logs "peer closed HOST" when the
 * server closed its end before the answer.
 *
 * With -DLIB_OLDER the library is one built before these callbacks (see
 * APPENDED below): the server must go on as without them.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ws_hook.h"

/* Built with -DLIB_OLDER: struct_size ends before user_lookup, as in a
 * library built before the gateway callbacks were appended; they abort()
 * if called, so the server must never call them. */
#ifdef LIB_OLDER
#define APPENDED() abort()
#else
#define APPENDED() ((void)0)
#endif

struct cfg {
	char keys_dir[540];
	char log[540];
	int target;
	int delay_ms;
};

static void logf_line(const struct cfg *cfg, const char *a, const char *b, const char *c) {
	char line[1024];
	int fd, n;

	fd = open(cfg->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		return;
	}
	n = snprintf(line, sizeof(line), "%s %s %s pid=%ld\n", a, b, c ? c : "-", (long)getpid());
	if (n > 0 && write(fd, line, (size_t)n) < 0) {
		/* nothing to do: the test sees the line missing */
	}
	close(fd);
}

static int startup(void **ctx, const char *config_path, int is_listener, char *err, size_t errlen) {
	struct cfg *cfg = calloc(1, sizeof(*cfg));
	char line[600], key[64], value[540];
	FILE *f;

	(void)is_listener;
	if (cfg == NULL || config_path == NULL || (f = fopen(config_path, "r")) == NULL) {
		snprintf(err, errlen, "no config");
		free(cfg);
		return WS_HOOK_FAIL;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%63s %539s", key, value) != 2) {
			continue;
		}
		if (strcmp(key, "keys_dir") == 0) {
			snprintf(cfg->keys_dir, sizeof(cfg->keys_dir), "%s", value);
		} else if (strcmp(key, "log") == 0) {
			snprintf(cfg->log, sizeof(cfg->log), "%s", value);
		} else if (strcmp(key, "target") == 0) {
			cfg->target = atoi(value);
		} else if (strcmp(key, "delay_ms") == 0) {
			cfg->delay_ms = atoi(value);
		}
	}
	fclose(f);
	*ctx = cfg;
	return WS_HOOK_OK;
}

static int known(const char *user) {
	return strcmp(user, "alice") == 0 || strcmp(user, "bob") == 0;
}

static int user_lookup(void *ctx, const struct ws_conn *conn, const char *user) {
	APPENDED();
	logf_line(ctx, "lookup", user, conn->user ? "user-set" : "user-null");
	return known(user);
}

/* The user's file through a pipe: the server reads a descriptor, not a path. */
static int authorized_keys(void *ctx, const struct ws_conn *conn, const char *user) {
	const struct cfg *cfg = ctx;
	char path[600], buf[65536];
	int fd, p[2];
	ssize_t n;

	APPENDED();
	logf_line(cfg, "keys", user, conn->user);
	if (!known(user)) {
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", cfg->keys_dir, user);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return -1;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0 || pipe(p) != 0) {
		return -1;
	}
	/* small: fits in the pipe's buffer, so this never blocks */
	if (write(p[1], buf, (size_t)n) != n) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	close(p[1]);
	return p[0];
}

static void send_fd(int sock, int fd) {
	char byte = 'F';
	struct iovec iov = { &byte, 1 };
	union {
		struct cmsghdr align;
		char space[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr msg;
	struct cmsghdr *cm;

	memset(&msg, 0, sizeof(msg));
	memset(&control, 0, sizeof(control));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = control.space;
	msg.msg_controllen = sizeof(control.space);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(sock, &msg, 0) < 0) {
		_exit(1);
	}
}

static int connect_target(int port) {
	struct sockaddr_in sa;
	int s = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		_exit(1);
	}
	return s;
}

/* The grandchild: waits delay_ms (or forever for "silent") unless the
 * server closes its end first, then answers for host. */
static void answer(const struct cfg *cfg, int sock, const char *host) {
	struct pollfd p = { sock, POLLIN, 0 };
	int wait_ms = strcmp(host, "silent") == 0 ? -1 : cfg->delay_ms;

	if (poll(&p, 1, wait_ms) != 0) {
		/* the server never writes: readable or hung up means closed */
		logf_line(cfg, "peer", "closed", host);
		_exit(0);
	}
	if (strcmp(host, "slow") == 0) {
		int s = connect_target(cfg->target);
		send_fd(sock, s);
		logf_line(cfg, "answered", host, "socket");
	} else {
		static const char reason[] = "workspace 'slowno' did not start: \x1b[31mred\x07";
		if (send(sock, reason, sizeof(reason) - 1, 0) < 0) {
			_exit(1);
		}
		logf_line(cfg, "answered", host, "reason");
	}
	_exit(0);
}

static int pending(const struct cfg *cfg, const char *host, int *fd_out) {
	int sv[2], status;
	pid_t child;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0) {
		return WS_ROUTE_REFUSE;
	}
	child = fork();
	if (child < 0) {
		close(sv[0]);
		close(sv[1]);
		return WS_ROUTE_REFUSE;
	}
	if (child == 0) {
		/* keep only our end: the connection's descriptors stay with it */
		int fd;
		for (fd = 3; fd < 1024; fd++) {
			if (fd != sv[1]) {
				close(fd);
			}
		}
		if (fork() == 0) {
			answer(cfg, sv[1], host);
		}
		_exit(0);
	}
	close(sv[1]);
	while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
	}
	*fd_out = sv[0];
	return WS_ROUTE_PENDING;
}

static int tcp_route(void *ctx, const struct ws_conn *conn, const char *host, unsigned int port,
		int *fd_out, char *reason, size_t reasonlen) {
	const struct cfg *cfg = ctx;
	char where[300];

	APPENDED();
	snprintf(where, sizeof(where), "%s:%u", host, port);
	logf_line(cfg, "route", where, conn->user);
	if (strcmp(host, "nope") == 0) {
		snprintf(reason, reasonlen, "no workspace 'nope' for %s", conn->user ? conn->user : "?");
		return WS_ROUTE_REFUSE;
	}
	if (strcmp(host, "slow") == 0 || strcmp(host, "slowno") == 0 || strcmp(host, "silent") == 0) {
		return pending(cfg, host, fd_out);
	}
	return WS_ROUTE_DEFAULT;
}

static const struct ws_hooks hooks = {
	.abi_version = WS_HOOK_ABI_VERSION,
#ifdef LIB_OLDER
	.struct_size = offsetof(struct ws_hooks, user_lookup),
#else
	.struct_size = sizeof(struct ws_hooks),
#endif
	.name = "gateway-test",
	.startup = startup,
	.user_lookup = user_lookup,
	.authorized_keys = authorized_keys,
	.tcp_route = tcp_route,
};

WS_HOOK_EXPORT const struct ws_hooks *ws_hook_entry(void) {
	return &hooks;
}
