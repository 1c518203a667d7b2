/*
 * gateway_hooks.c - the hook library in the gateway role: users and keys
 * from the gateway's own sources, and every direct-tcpip request routed to
 * a workspace the user may use or refused -- never to anything else, so
 * the gateway is no open proxy.  The waking runs in a separate process
 * (ws-gateway wake) that hands the connected socket back: the connection's
 * keys never enter it, and the server's loop never blocks on a backend.
 */
#define _GNU_SOURCE /* memfd_create */
#include "gateway.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "envsources.h"
#include "plugin.h"

static void route_event(struct ws_plugin *p, const struct ws_conn *c, const char *host,
		unsigned int port, const char *name, const char *refused) {
	struct ws_event ev;

	ws_event_begin(&ev, refused ? "gateway_route_refused" : "gateway_route");
	ws_event_str(&ev, "session", c->session_id, 64);
	ws_event_str(&ev, "user", c->user, 256);
	ws_event_str(&ev, "host", host, 256);
	ws_event_uint(&ev, "port", port);
	ws_event_str(&ev, "workspace", name, 64);
	ws_event_str(&ev, "reason", refused, 512);
	ws_eventlog_write(&p->log, &ev);
}

static void problem_event(struct ws_plugin *p, const char *what, const char *user,
		const char *why) {
	struct ws_event ev;

	ws_event_begin(&ev, "gateway_problem");
	ws_event_str(&ev, "what", what, 64);
	ws_event_str(&ev, "user", user, 256);
	ws_event_str(&ev, "reason", why, 512);
	ws_eventlog_write(&p->log, &ev);
}

/* Starts ws-gateway with args; fd_for_3 (or -1) becomes its descriptor 3.
 * `detach`: double fork, so the server never sees (or waits for) it.
 * Returns its pid (the intermediate's when detached) or -1. */
static pid_t spawn(struct ws_plugin *p, char *const args[], int fd_for_3, int detach) {
	const char *prog = ws_gw_program(&p->cfg);
	char *argv[8];
	pid_t pid;
	sigset_t none;
	size_t i;
	int null;

	argv[0] = (char *)prog;
	for (i = 0; args[i] != NULL && i + 2 < sizeof(argv) / sizeof(argv[0]); i++) {
		argv[i + 1] = args[i];
	}
	argv[i + 1] = NULL;
	pid = fork();
	if (pid != 0) {
		return pid;
	}
	if (detach && fork() != 0) {
		_exit(0);
	}
	/* descriptor 3 without close-on-exec; nothing of the connection's
	 * (its socket) but stderr, where the event log may be */
	if (fd_for_3 >= 0 && (fd_for_3 == 3 ? fcntl(3, F_SETFD, 0) : dup2(fd_for_3, 3)) < 0) {
		_exit(127);
	}
	ws_gw_close_from(fd_for_3 >= 0 ? 4 : 3);
	null = open("/dev/null", O_RDWR);
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0) {
		_exit(127);
	}
	if (null > 2) {
		close(null);
	}
	signal(SIGPIPE, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv(prog, argv);
	_exit(127);
}

int ws_gw_startup(struct ws_plugin *p, char *err, size_t errlen) {
	const struct ws_gateway_config *g = &p->cfg.gateway;
	struct stat st;

	if (!g->enabled) {
		return 0;
	}
	if (p->config_path == NULL) {
		snprintf(err, errlen, "role = gateway: the server must be given --hook-config");
		return -1;
	}
	if (access(ws_gw_program(&p->cfg), X_OK) != 0) {
		snprintf(err, errlen, "gateway_program %s: %s", ws_gw_program(&p->cfg),
			strerror(errno));
		return -1;
	}
	if (access(g->backend, X_OK) != 0) {
		snprintf(err, errlen, "gateway_backend %s: %s", g->backend, strerror(errno));
		return -1;
	}
	if (stat(g->state_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "gateway_state_dir %s: not a directory", g->state_dir);
		return -1;
	}
	/* it holds every workspace's host key and decides what the keeper
	 * stops: the rule of the sources that decide who logs in, but for
	 * group write by the server's own group, which a volume mounted with
	 * fsGroup has (the gateway's pod runs nothing else) */
	{
		char why[600];
		if (ws_trust_own_volume(g->state_dir, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "gateway_state_dir %s", why);
			return -1;
		}
	}
	if (p->is_listener && g->idle_stop > 0) {
		/* The keeper's descriptor 3 is a pipe whose write end only the
		 * listener holds (close-on-exec: not the connections it
		 * re-executes): when the listener ends, however it ends, the
		 * keeper reads EOF and stops.  Not the parent's death signal:
		 * the listener forks itself away from its parent (daemon())
		 * after this, unless run with -F. */
		char *args[] = { "--config", p->config_path, "keeper", NULL };
		int lifeline[2];
		pid_t pid;

		if (pipe(lifeline) != 0) {
			snprintf(err, errlen, "ws-gateway keeper: pipe: %s", strerror(errno));
			return -1;
		}
		fcntl(lifeline[1], F_SETFD, FD_CLOEXEC);
		pid = spawn(p, args, lifeline[0], 0);
		close(lifeline[0]);
		if (pid < 0) {
			close(lifeline[1]);
			snprintf(err, errlen, "ws-gateway keeper: fork: %s", strerror(errno));
			return -1;
		}
		p->gw_keeper = pid;
		p->gw_keeper_owner = (long)getpid();
		p->gw_lifeline = lifeline[1];
	}
	return 0;
}

/* A server that cannot re-execute itself (started by a name that open()
 * cannot find, say via PATH) forks its connections with the listener's
 * library state: the keeper's pid and the lifeline's write end.  Such a
 * child must neither stop the keeper when its connection ends nor keep
 * the lifeline open after the listener is gone. */
static void forget_keeper(struct ws_plugin *p) {
	if (p->gw_keeper > 0 && p->gw_keeper_owner != (long)getpid()) {
		close(p->gw_lifeline);
		p->gw_lifeline = -1;
		p->gw_keeper = 0;
	}
}

void ws_gw_connect(struct ws_plugin *p) {
	forget_keeper(p);
}

/* SIGTERM, then at most WS_GW_KEEPER_STOP_MS for it to go (it may be in a
 * backend call), then SIGKILL: a keeper that does not stop must not hold
 * the listener's exit. */
static void stop_keeper(pid_t pid) {
	struct timespec step = { 0, 20 * 1000000L };
	int waited;
	pid_t got;

	kill(pid, SIGTERM);
	for (waited = 0; waited < WS_GW_KEEPER_STOP_MS; waited += 20) {
		got = waitpid(pid, NULL, WNOHANG);
		if (got == pid || (got < 0 && errno != EINTR)) {
			return; /* gone (or reaped by the server's SIGCHLD handler) */
		}
		nanosleep(&step, NULL);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
	}
}

void ws_gw_shutdown(struct ws_plugin *p) {
	forget_keeper(p);
	if (p->gw_keeper > 0) {
		close(p->gw_lifeline);
		stop_keeper((pid_t)p->gw_keeper);
		p->gw_keeper = 0;
	}
	if (p->gw_keys != NULL) {
		explicit_bzero(p->gw_keys, p->gw_keys_len);
		free(p->gw_keys);
		p->gw_keys = NULL;
	}
}

/* The user's keys, once per connection: the server asks for each key the
 * client offers, and a keys command need not run for each. */
static int load_user(struct ws_plugin *p, const char *user) {
	char why[600];

	if (p->gw_user[0] != '\0' && strcmp(p->gw_user, user) == 0) {
		return p->gw_known;
	}
	if (p->gw_keys != NULL) {
		explicit_bzero(p->gw_keys, p->gw_keys_len);
		free(p->gw_keys);
		p->gw_keys = NULL;
	}
	p->gw_known = ws_gw_user_keys(&p->cfg, user, &p->gw_keys, &p->gw_keys_len,
		why, sizeof(why));
	if (p->gw_known < 0) {
		problem_event(p, "user_keys", user, why);
	}
	snprintf(p->gw_user, sizeof(p->gw_user), "%s", ws_gw_user_valid(user) ? user : "");
	return p->gw_known;
}

int ws_gw_user_lookup(struct ws_plugin *p, const struct ws_conn *c, const char *user) {
	(void)c;
	return load_user(p, user) == 1;
}

int ws_gw_authorized_keys(struct ws_plugin *p, const struct ws_conn *c, const char *user) {
	int fd;

	(void)c;
	if (load_user(p, user) != 1 || p->gw_keys_len == 0) {
		return -1;
	}
	/* a memfd, not a pipe: no writer to block, whatever the size */
	fd = memfd_create("ws-gateway-keys", MFD_CLOEXEC);
	if (fd < 0) {
		problem_event(p, "authorized_keys", user, strerror(errno));
		return -1;
	}
	if (write(fd, p->gw_keys, p->gw_keys_len) != (ssize_t)p->gw_keys_len
			|| lseek(fd, 0, SEEK_SET) != 0) {
		problem_event(p, "authorized_keys", user, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int refuse(struct ws_plugin *p, const struct ws_conn *c, const char *host,
		unsigned int port, const char *name, char *reason, size_t reasonlen,
		const char *fmt, const char *a, const char *b) {
	snprintf(reason, reasonlen, fmt, a, b);
	route_event(p, c, host, port, name, reason);
	return WS_ROUTE_REFUSE;
}

int ws_gw_tcp_route(struct ws_plugin *p, const struct ws_conn *c, const char *host,
		unsigned int port, int *fd_out, char *reason, size_t reasonlen) {
	char name[WS_GW_NAME_MAX + 2], why[600];
	const char *user = c->user ? c->user : "";
	struct timespec now;
	int sv[2], may;
	pid_t pid;

	if (ws_gw_parse_host(host, p->cfg.gateway.suffix, name, sizeof(name)) != 0) {
		return refuse(p, c, host, port, NULL, reason, reasonlen,
			"'%s' is not a workspace name", name, NULL);
	}
	if (port != 22) {
		return refuse(p, c, host, port, name, reason, reasonlen,
			"only port 22 of a workspace", NULL, NULL);
	}
	may = ws_gw_may_use(&p->cfg, user, name, why, sizeof(why));
	if (may < 0) {
		problem_event(p, "grants", user, why);
	}
	if (may != 1) {
		return refuse(p, c, host, port, name, reason, reasonlen,
			"no workspace '%s' for %s", name, user);
	}
	/* each wake is a process that may wait minutes: a client opening
	 * channels in a loop must not fill the machine with them */
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec - p->gw_wake_window >= 60 || p->gw_wakes == 0) {
		p->gw_wake_window = now.tv_sec;
		p->gw_wakes = 0;
	}
	if (++p->gw_wakes > WS_GW_WAKES_PER_MINUTE) {
		return refuse(p, c, host, port, name, reason, reasonlen,
			"workspace '%s' did not start: %s", name, "too many jumps in a minute");
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		snprintf(why, sizeof(why), "socketpair: %s", strerror(errno));
		problem_event(p, "route", user, why);
		return refuse(p, c, host, port, name, reason, reasonlen,
			"workspace '%s' did not start: %s", name, "gateway error");
	}
	{
		char *args[] = { "--config", p->config_path, "wake", (char *)user, name, NULL };
		pid = spawn(p, args, sv[1], 1);
	}
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return refuse(p, c, host, port, name, reason, reasonlen,
			"workspace '%s' did not start: %s", name, "gateway error");
	}
	/* the intermediate exits at once; the server's SIGCHLD handler may
	 * reap it first, hence no check */
	waitpid(pid, NULL, 0);
	route_event(p, c, host, port, name, NULL);
	*fd_out = sv[0];
	return WS_ROUTE_PENDING;
}

/* A control session's stderr is the client's, so with event_log = stderr
 * ws-gateway control would show its events to the user and the log would
 * never get them.  The server's stderr goes down to it at a descriptor
 * above the ones the server closes before exec (it closes 3 up to the
 * highest it has used, which stays far below FD_SETSIZE: it select()s).
 * The connection process keeps one such copy, made once and reused. */
static int hand_down_log(struct ws_plugin *p, ws_env_set_fn set, void *env_ctx) {
	char num[16];

	if (p->cfg.event_log != WS_EVENT_LOG_STDERR) {
		return 0;
	}
	if (p->gw_log_fd <= 0) {
		p->gw_log_fd = fcntl(STDERR_FILENO, F_DUPFD, WS_GW_LOG_FD_MIN);
		if (p->gw_log_fd < 0) {
			return 0; /* a low descriptor limit: control logs nothing */
		}
	}
	snprintf(num, sizeof(num), "%d", p->gw_log_fd);
	return set(env_ctx, WS_GW_ENV_LOG_FD, num) == 0 ? 0 : 1;
}

/* Is the session the forced ws-gateway control?  A gateway started
 * without -c would give every user /bin/sh as the gateway's uid: the host
 * keys in the state directory, the container engine's socket.  So the
 * library does not rely on the command line: no forced control, no session. */
static int is_control(struct ws_plugin *p, const struct ws_session *s) {
	const char *prog = ws_gw_program(&p->cfg);
	size_t n = strlen(prog);

	if (s->struct_size < offsetof(struct ws_session, key_options) + sizeof(s->key_options)
			|| !(s->key_options & WS_KEY_FORCED_COMMAND) || s->command == NULL) {
		return 0;
	}
	return strncmp(s->command, prog, n) == 0 && strcmp(s->command + n, " control") == 0;
}

int ws_gw_session_env(struct ws_plugin *p, const struct ws_session *s,
		ws_env_set_fn set, void *env_ctx) {
	/* only ws-gateway control runs here: no sftp, no other subsystem */
	if (s->kind != NULL && strcmp(s->kind, "subsystem") == 0) {
		return 1;
	}
	if (!is_control(p, s)) {
		char why[600];
		snprintf(why, sizeof(why), "a session that is not the forced command "
			"'%s control' (the server needs -c '%s control')", ws_gw_program(&p->cfg),
			ws_gw_program(&p->cfg));
		problem_event(p, "session", s->conn ? s->conn->user : NULL, why);
		return 1;
	}
	if (set(env_ctx, WS_GW_ENV_CONFIG, p->config_path) != 0) {
		return 1;
	}
	return hand_down_log(p, set, env_ctx);
}

