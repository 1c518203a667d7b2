/*
 * gateway_run.c - runs a helper (a keys command, a backend) with a time
 * limit and an output cap: whatever it does, the caller gets an answer in
 * bounded time and memory.  It runs in its own process group, so a
 * backend's own children (podman, sleep) are stopped with it.
 */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include "gateway.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* How often a call whose pipes stay open is checked for having exited. */
#define EXIT_CHECK_MS 100

volatile sig_atomic_t ws_gw_running_pgid;

void ws_gw_close_from(int from) {
	long max = sysconf(_SC_OPEN_MAX);
	int fd;
	if (max < 0 || max > 65536) {
		max = 65536;
	}
	for (fd = from; fd < max; fd++) {
		close(fd);
	}
}

static long ms_since(const struct timespec *t0) {
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

static void child(char *const argv[], const char *extra, int out, int err) {
	int null = open("/dev/null", O_RDONLY);
	sigset_t none;

	if (null < 0 || dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) {
		_exit(127);
	}
	ws_gw_close_from(3);
	setpgid(0, 0);
	/* as the library's spawn(): the caller's blocked signals (a keeper's,
	 * a server's) must not make the helper deaf to SIGTERM and the like */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	if (extra != NULL) {
		putenv((char *)extra);
	}
	execve(argv[0], argv, environ);
	dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Reaps pid by the deadline; a helper that closed its output but goes on
 * running (exec >/dev/null; sleep) must not hold the caller (a login, the
 * keeper) for good: past the deadline its group is killed.  1 if it had
 * to be killed. */
static int reap(pid_t pid, const struct timespec *t0, unsigned int timeout_ms, int *wstatus) {
	pid_t got;

	for (;;) {
		got = waitpid(pid, wstatus, WNOHANG);
		if (got == pid || (got < 0 && errno != EINTR)) {
			return 0;
		}
		if (ms_since(t0) >= (long)timeout_ms) {
			break;
		}
		{
			struct timespec step = { 0, 10 * 1000000L };
			nanosleep(&step, NULL);
		}
	}
	kill(-pid, SIGKILL);
	while (waitpid(pid, wstatus, 0) < 0 && errno == EINTR) {
	}
	return 1;
}

/* Reads one chunk of pipe i (0 stdout, 1 stderr) into its buffer; 1 if
 * data came, 0 at EOF, on an error or when a non-blocking pipe is empty. */
static int take(int fd, int i, struct ws_gw_result *r, size_t outmax, char *errbuf,
		size_t errcap, size_t *errlen) {
	char chunk[4096], *dst = i == 0 ? r->out : errbuf;
	size_t *used = i == 0 ? &r->outlen : errlen;
	size_t cap = i == 0 ? outmax : errcap - 1;
	ssize_t got;

	do {
		got = read(fd, chunk, sizeof(chunk));
	} while (got < 0 && errno == EINTR);
	if (got <= 0) {
		return 0;
	}
	if (i == 0 && *used + (size_t)got > cap) {
		r->too_big = 1;
	} else {
		size_t take_n = *used + (size_t)got > cap ? cap - *used : (size_t)got;
		memcpy(dst + *used, chunk, take_n);
		*used += take_n;
	}
	return 1;
}

int ws_gw_run(char *const argv[], const char *extra, unsigned int timeout_ms, size_t outmax,
		struct ws_gw_result *r) {
	int outp[2], errp[2], wstatus = 0, exited = 0, poll_err = 0;
	size_t errlen = 0;
	struct timespec t0;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	r->out = malloc(outmax + 1);
	if (r->out == NULL) {
		snprintf(r->err, sizeof(r->err), "out of memory");
		return -1;
	}
	r->out[0] = '\0';
	if (pipe(outp) != 0 || (pipe(errp) != 0 && (close(outp[0]), close(outp[1]), 1))) {
		snprintf(r->err, sizeof(r->err), "pipe: %s", strerror(errno));
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid == 0) {
		child(argv, extra, outp[1], errp[1]);
	}
	close(outp[1]);
	close(errp[1]);
	if (pid < 0) {
		snprintf(r->err, sizeof(r->err), "fork: %s", strerror(errno));
		close(outp[0]);
		close(errp[0]);
		return -1;
	}
	setpgid(pid, pid); /* also here: no window where a kill misses */
	ws_gw_running_pgid = (sig_atomic_t)pid;
	{
		struct pollfd pfd[2] = { { outp[0], POLLIN, 0 }, { errp[0], POLLIN, 0 } };
		char errbuf[sizeof(r->err)];
		int open_fds = 2;

		/* Until both pipes are at EOF, or the program has exited: then
		 * what it wrote is read and the call is over, even if a process
		 * it started (the workspace's server, run in the background
		 * without redirecting) still holds a pipe.  Exit is checked every
		 * EXIT_CHECK_MS, as only a signal would say it at once. */
		while (open_fds > 0) {
			long left = (long)timeout_ms - ms_since(&t0);
			int i, n;
			if (left <= 0 && !exited) {
				r->timed_out = 1;
				break;
			}
			n = poll(pfd, 2, exited ? 0 : (int)(left < EXIT_CHECK_MS ? left : EXIT_CHECK_MS));
			if (n < 0 && errno == EINTR) {
				continue;
			}
			if (n < 0) {
				/* would fail again at once: stop it rather than spin */
				poll_err = errno;
				break;
			}
			for (i = 0; i < 2; i++) {
				if (pfd[i].fd < 0) {
					continue;
				}
				if (exited) {
					/* all there is, without waiting; then done */
					while (!r->too_big && take(pfd[i].fd, i, r, outmax, errbuf,
							sizeof(errbuf), &errlen)) {
					}
				} else if (n <= 0 || pfd[i].revents == 0
						|| take(pfd[i].fd, i, r, outmax, errbuf, sizeof(errbuf),
							&errlen)) {
					continue;
				}
				close(pfd[i].fd);
				pfd[i].fd = -1;
				open_fds--;
			}
			if (r->too_big) {
				break;
			}
			if (!exited && waitpid(pid, &wstatus, WNOHANG) == pid) {
				exited = 1;
				for (i = 0; i < 2; i++) {
					if (pfd[i].fd >= 0) {
						fcntl(pfd[i].fd, F_SETFL, fcntl(pfd[i].fd, F_GETFL) | O_NONBLOCK);
					}
				}
			}
		}
		if (pfd[0].fd >= 0) {
			close(pfd[0].fd);
		}
		if (pfd[1].fd >= 0) {
			close(pfd[1].fd);
		}
		errbuf[errlen] = '\0';
		errbuf[strcspn(errbuf, "\r\n")] = '\0';
		snprintf(r->err, sizeof(r->err), "%s", errbuf);
	}
	r->out[r->outlen] = '\0';
	if (r->timed_out || r->too_big || poll_err != 0) {
		kill(-pid, SIGKILL);
	}
	if (!exited && reap(pid, &t0, timeout_ms, &wstatus)) {
		r->timed_out = !r->too_big && poll_err == 0;
	}
	ws_gw_running_pgid = 0;
	if (!r->timed_out && !r->too_big && poll_err == 0 && WIFEXITED(wstatus)) {
		r->status = WEXITSTATUS(wstatus);
	}
	if (poll_err != 0) {
		snprintf(r->err, sizeof(r->err), "poll: %s", strerror(poll_err));
	} else if (r->timed_out) {
		snprintf(r->err, sizeof(r->err), "timed out after %u ms", timeout_ms);
	} else if (r->too_big) {
		snprintf(r->err, sizeof(r->err), "more than %zu bytes of output", outmax);
	} else if (WIFSIGNALED(wstatus) && r->err[0] == '\0') {
		snprintf(r->err, sizeof(r->err), "killed by signal %d", WTERMSIG(wstatus));
	}
	return 0;
}

void ws_gw_result_free(struct ws_gw_result *r) {
	if (r->out != NULL) {
		explicit_bzero(r->out, r->outlen);
		free(r->out);
		r->out = NULL;
	}
}
