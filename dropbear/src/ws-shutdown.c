/*
 * ws-shutdown.c - the listener's end on SIGTERM or SIGINT (see
 * ws-shutdown.h): its connection processes end with it instead of serving
 * on alone.  Copied into the upstream tree by the build; svr-main.c calls
 * it once it has closed its listening sockets.
 */
#include "includes.h"
#include "dbutil.h"
#include "ws-park.h"
#include "ws-shutdown.h"

/* How long the listener waits for its connection processes to end. */
#define WS_SHUTDOWN_WAIT_MS 5000

/* Sends sig (0: none, only counts) to every live child of this process -
 * the connection processes - found through /proc; returns how many there
 * are.  SIGCHLD must be blocked: a child that exited stays a zombie (not
 * counted), so its pid cannot name another process yet. */
static unsigned int signal_children(int sig) {
	DIR *d = opendir("/proc");
	struct dirent *e;
	unsigned int n = 0;
	long self = (long)getpid();

	while (d != NULL && (e = readdir(d)) != NULL) {
		char path[64], buf[512];
		const char *p;
		long pid, ppid;
		char state;
		ssize_t len;
		int fd;

		if (e->d_name[0] < '1' || e->d_name[0] > '9') {
			continue;
		}
		pid = strtol(e->d_name, NULL, 10);
		snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
			continue;
		}
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0) {
			continue;
		}
		buf[len] = '\0';
		/* "pid (comm) state ppid ...": comm may hold spaces and ')' */
		p = strrchr(buf, ')');
		if (p == NULL || sscanf(p + 1, " %c %ld", &state, &ppid) != 2 || ppid != self
				|| state == 'Z' || state == 'X') {
			continue;
		}
		if (sig == 0 || kill((pid_t)pid, sig) == 0) {
			n++;
		}
	}
	if (d != NULL) {
		closedir(d);
	}
	return n;
}

void ws_end_connections(void) {
	struct timespec pause = { 0, 20 * 1000000L };
	sigset_t chld, saved;
	unsigned int n, waited_ms = 0;
	pid_t reaped;

	/* connections still waiting for their first byte get no process */
	ws_park_close_all();
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &saved);
	n = signal_children(SIGTERM);
	if (n > 0) {
		dropbear_log(LOG_INFO, "Terminated by signal: ending %u connection%s",
			n, n == 1 ? "" : "s");
	}
	/* each ends through its own SIGTERM handler (a disconnect line) */
	for (;;) {
		reaped = waitpid(-1, NULL, WNOHANG);
		if (reaped > 0 || (reaped < 0 && errno == EINTR)) {
			continue;
		}
		if (reaped < 0 || waited_ms >= WS_SHUTDOWN_WAIT_MS) {
			break; /* ECHILD: all gone */
		}
		nanosleep(&pause, NULL);
		waited_ms += 20;
	}
	if (reaped == 0 && (n = signal_children(0)) > 0) {
		dropbear_log(LOG_WARNING, "%u connection%s still open after %d s: left running",
			n, n == 1 ? "" : "s", WS_SHUTDOWN_WAIT_MS / 1000);
	}
	sigprocmask(SIG_SETMASK, &saved, NULL);
}
