/*
 * envsrc_remote.c - environment from a helper command and from an HTTP
 * endpoint on a Unix socket.  Both run inside the connection's server
 * process before the session starts, so both are bounded in time and size:
 * a hung or chatty source costs at most its timeout, then the session goes
 * on without it.
 */
#define _GNU_SOURCE /* pipe2 */
#include "envsources.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "envparse.h"

#define URL_MAX 2048

/* --- the helper command --- */

/* In the child: only stdout to us, stdin from /dev/null, stderr shared
 * with the server (the helper's own diagnostics), and none of the server's
 * other descriptors (the client's socket among them). */
static void exec_helper(const char *path, const struct ws_env_request *req, int out_fd) {
	char *const argv[] = { (char *)path, (char *)req->user, (char *)req->session_id,
		(char *)req->client_addr, (char *)req->fingerprint, NULL };
	char *const envp[] = { "PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C", NULL };
	struct rlimit rl;
	sigset_t none;
	int fd, devnull, max_fd = 1024;

	setpgid(0, 0); /* one process group, so a timeout kills its children too */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	devnull = open("/dev/null", O_RDONLY);
	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out_fd, 1) < 0) {
		_exit(126);
	}
	if (close_range(3, ~0U, 0) != 0) { /* kernels before 5.9: one by one */
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
			max_fd = rl.rlim_cur < 1048576 ? (int)rl.rlim_cur : 1048576;
		}
		for (fd = 3; fd < max_fd; fd++) {
			close(fd);
		}
	}
	execve(path, argv, envp);
	_exit(127);
}

/* Waits for the helper to exit by the deadline, without reaping it: while it
 * is a zombie its pid cannot be reused, so killing its process group (any
 * children it left behind) is safe.  Then reaps it. */
static int finish_helper(pid_t pid, const struct timespec *deadline, int *status) {
	siginfo_t info;
	int timed_out = 0;
	long pause_us = 50; /* it has usually exited already: look again soon */

	for (;;) {
		memset(&info, 0, sizeof(info));
		if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0 && errno != EINTR) {
			break;
		}
		if (info.si_pid == pid) {
			break;
		}
		if (ws_deadline_passed(deadline)) {
			timed_out = 1;
			kill(pid, SIGKILL);
			break;
		}
		ws_sleep_us(pause_us);
		pause_us = pause_us < 5000 ? pause_us * 2 : pause_us;
	}
	kill(-pid, SIGKILL);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
	}
	return timed_out ? -1 : 0;
}

int ws_envsrc_command(const struct ws_env_config *cfg, const struct ws_env_request *req,
		struct ws_envlist *list, char *err, size_t errlen) {
	struct ws_envsrc_sink sink = { list, cfg };
	struct timespec deadline;
	sigset_t block_chld, saved;
	char *out = NULL, why[256];
	size_t len = 0;
	int pipefd[2], status = 0, read_ret, ret = -1;
	pid_t pid;

	/* it runs as the server's user in every session: nobody else may
	 * change what it is */
	if (ws_trust_path(cfg->command, err, errlen) != 0) {
		return -1;
	}
	if (pipe2(pipefd, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	/* The server reaps every child in its SIGCHLD handler; with SIGCHLD
	 * blocked until we have reaped the helper, its status stays ours. */
	sigemptyset(&block_chld);
	sigaddset(&block_chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block_chld, &saved);
	ws_deadline_in(&deadline, cfg->command_timeout_ms);
	pid = fork();
	if (pid == 0) {
		exec_helper(cfg->command, req, pipefd[1]);
	}
	close(pipefd[1]);
	if (pid < 0) {
		close(pipefd[0]);
		sigprocmask(SIG_SETMASK, &saved, NULL);
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	read_ret = ws_read_all(pipefd[0], cfg->output_max, &deadline, &out, &len, why, sizeof(why));
	close(pipefd[0]);
	if (read_ret != 0) {
		kill(pid, SIGKILL); /* it is over: too slow or too much */
	}
	if (finish_helper(pid, &deadline, &status) != 0 && read_ret == 0) {
		read_ret = -1;
		snprintf(why, sizeof(why), "timed out");
	}
	sigprocmask(SIG_SETMASK, &saved, NULL);

	if (read_ret != 0 && strcmp(why, "timed out") == 0) {
		snprintf(err, errlen, "%s: timed out after %u ms; killed", cfg->command,
			cfg->command_timeout_ms);
	} else if (read_ret != 0) {
		snprintf(err, errlen, "%s: output %s; killed", cfg->command, why);
	} else if (WIFSIGNALED(status)) {
		snprintf(err, errlen, "%s: killed by signal %d", cfg->command, WTERMSIG(status));
	} else if (WEXITSTATUS(status) != 0) {
		snprintf(err, errlen, "%s: exited with status %d%s", cfg->command, WEXITSTATUS(status),
			WEXITSTATUS(status) == 127 ? " (could it be run?)" : "");
	} else if (ws_parse_lines(out, len, ws_envsrc_put, &sink, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: output %s", cfg->command, why);
	} else {
		ret = 0;
	}
	ws_free_secret(out, len);
	return ret;
}

/* --- the HTTP endpoint --- */

/* Percent-encodes everything but RFC 3986's unreserved characters. */
static int append_encoded(char *out, size_t *n, size_t outlen, const char *s) {
	static const char hex[] = "0123456789ABCDEF";
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		int plain = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z')
			|| (ch >= '0' && ch <= '9') || strchr("-._~", ch) != NULL;
		if (*n + 4 >= outlen) {
			return -1;
		}
		if (plain) {
			out[(*n)++] = (char)ch;
		} else {
			out[(*n)++] = '%';
			out[(*n)++] = hex[ch >> 4];
			out[(*n)++] = hex[ch & 15];
		}
	}
	return 0;
}

/* env_socket_url with %u %s %a %f %% expanded (config.c checked the codes). */
static int expand_url(const char *pattern, const struct ws_env_request *req, char *out, size_t outlen) {
	size_t n = 0;
	const char *p;

	for (p = pattern; *p != '\0'; p++) {
		const char *value = NULL;
		if (*p != '%' || p[1] == '%') {
			if (n + 2 >= outlen) {
				return -1;
			}
			out[n++] = *p;
			p += *p == '%';
			continue;
		}
		p++;
		value = *p == 'u' ? req->user : *p == 's' ? req->session_id
			: *p == 'a' ? req->client_addr : req->fingerprint;
		if (append_encoded(out, &n, outlen, value) != 0) {
			return -1;
		}
	}
	out[n] = '\0';
	return 0;
}

int ws_envsrc_socket(const struct ws_env_config *cfg, const struct ws_env_request *req,
		struct ws_envlist *list, char *err, size_t errlen) {
	struct ws_envsrc_sink sink = { list, cfg };
	char url[URL_MAX], why[256];
	char *resp = NULL;
	const char *body;
	size_t len = 0, blen;
	int ret = -1;

	if (expand_url(cfg->socket_url ? cfg->socket_url : WS_ENV_SOCKET_URL_DEFAULT,
			req, url, sizeof(url)) != 0) {
		snprintf(err, errlen, "%s: request path longer than %d bytes", cfg->socket, URL_MAX);
		return -1;
	}
	if (ws_http_get_unix(cfg->socket, url, "application/json", cfg->socket_timeout_ms,
			(size_t)cfg->output_max, &resp, &len, err, errlen) != 0) {
		/* err says why */
	} else if (ws_http_body(resp, len, &body, &blen, why, sizeof(why)) != 0
			|| ws_parse_json_object(body, blen, ws_envsrc_put, &sink, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s", cfg->socket, why);
	} else {
		ret = 0;
	}
	ws_free_secret(resp, len);
	return ret;
}
