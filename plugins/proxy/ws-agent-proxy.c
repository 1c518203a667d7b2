/*
 * ws-agent-proxy - lets the workspace user use keys held by an ssh-agent
 * that runs as another uid (a sidecar), without being able to read them.
 *
 *   ws-agent-proxy --listen SOCKET --agent AGENT_SOCKET --allow-uid UID[,UID...]
 *
 * ssh-agent only serves peers of its own uid, so the sidecar runs this
 * next to it: it listens on SOCKET (mode 0666; the peer's uid, from
 * SO_PEERCRED, must be one of --allow-uid) and relays each request to the
 * agent.  Only well-formed "list keys" and "sign" requests pass
 * (agent_filter.c); adding, removing or locking keys, or anything
 * malformed, is answered with SSH_AGENT_FAILURE, so a workspace can use the
 * deploy keys but not replace, remove or lock them.  One process per
 * client connection, at most MAX_CLIENTS at once, one request at a time.
 */
#define _GNU_SOURCE /* SO_PEERCRED, struct ucred */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_filter.h"

#define MAX_CLIENTS 64
#define MAX_UIDS 16
/* a client that sends half a message and stalls is dropped */
#define READ_TIMEOUT_MS 30000

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
		"--allow-uid UID[,UID...]\n");
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

/* Reads (or writes) exactly len bytes; 0 on success, -1 on EOF, error or
 * a peer that stalls for READ_TIMEOUT_MS. */
static int transfer(int fd, unsigned char *buf, size_t len, int writing) {
	while (len > 0) {
		struct pollfd pfd = { fd, writing ? POLLOUT : POLLIN, 0 };
		ssize_t n;
		if (poll(&pfd, 1, READ_TIMEOUT_MS) <= 0) {
			return -1;
		}
		n = writing ? send(fd, buf, len, MSG_NOSIGNAL) : read(fd, buf, len);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_exact(int fd, unsigned char *buf, size_t len) {
	return transfer(fd, buf, len, 0);
}

static int write_all(int fd, const unsigned char *buf, size_t len) {
	return transfer(fd, (unsigned char *)buf, len, 1);
}

/* One agent message (4-byte big-endian length, then the body) into buf;
 * returns the body length or -1. */
static long read_message(int fd, unsigned char *buf) {
	long len;
	if (read_exact(fd, buf, 4) != 0) {
		return -1;
	}
	len = ws_agent_frame_length(buf);
	if (len < 0 || read_exact(fd, buf + 4, (size_t)len) != 0) {
		return -1;
	}
	return len;
}

static int connect_agent(const char *path) {
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || fill_addr(&sa, path) != 0
			|| connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		say("cannot reach the agent at %s: %s", path, strerror(errno));
		if (fd >= 0) {
			close(fd);
		}
		return -1;
	}
	return fd;
}

/* Serves one client until it hangs up. */
static void serve(int client, const char *agent_path) {
	static unsigned char buf[4 + WS_AGENT_MAX_MESSAGE];
	static const unsigned char failure[] = { 0, 0, 0, 1, WS_AGENT_FAILURE };
	int agent = connect_agent(agent_path);
	long len;

	while (agent >= 0 && (len = read_message(client, buf)) > 0) {
		enum ws_agent_verdict verdict = ws_agent_filter(buf + 4, (size_t)len);
		if (verdict != WS_AGENT_PASS) {
			say("refused %sagent request type %u",
				verdict == WS_AGENT_MALFORMED ? "a malformed " : "", buf[4]);
			if (write_all(client, failure, sizeof(failure)) != 0) {
				break;
			}
			continue;
		}
		if (write_all(agent, buf, 4 + (size_t)len) != 0
				|| (len = read_message(agent, buf)) < 0
				|| write_all(client, buf, 4 + (size_t)len) != 0) {
			break;
		}
	}
	if (agent >= 0) {
		close(agent);
	}
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
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0
			|| chmod(path, 0666) != 0 || listen(fd, 16) != 0) {
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

int main(int argc, char **argv) {
	const char *listen_path = NULL, *agent_path = NULL;
	uid_t uids[MAX_UIDS];
	int nuids = 0, children = 0, fd, i;

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
		} else {
			return usage();
		}
	}
	if (i != argc || listen_path == NULL || agent_path == NULL || nuids == 0) {
		return usage();
	}
	signal(SIGPIPE, SIG_IGN);
	fd = listen_on(listen_path);
	if (fd < 0) {
		return 1;
	}
	say("listening on %s for the agent at %s", listen_path, agent_path);
	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		int client;
		pid_t pid;

		while (children > 0 && waitpid(-1, NULL, WNOHANG) > 0) {
			children--;
		}
		if (children >= MAX_CLIENTS) {
			if (waitpid(-1, NULL, 0) > 0) {
				children--;
			}
			continue;
		}
		if (poll(&pfd, 1, 1000) <= 0) {
			continue;
		}
		client = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (client < 0) {
			continue;
		}
		if (!allowed(client, uids, nuids)) {
			close(client);
			continue;
		}
		pid = fork();
		if (pid == 0) {
			close(fd);
			serve(client, agent_path);
			_exit(0);
		}
		if (pid > 0) {
			children++;
		}
		close(client);
	}
}
