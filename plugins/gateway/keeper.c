/*
 * keeper.c - ws-gateway keeper: stops workspaces nobody has used for
 * gateway_idle_stop, so they cost nothing until the next jump wakes them.
 * Every min(idle_stop/4, 30 s) it asks the backend for the running ones and
 * their last activity.  A workspace that reports none (0) counts from when
 * the keeper first saw it running, and none counts from before its last
 * wake (STATE/woken/NAME).  It never waits for a workspace's lock: one
 * being woken or stopped is looked at next round; under the lock it reads
 * the state and activity again before stopping anything.  Run by the hook
 * library, it stops when the listener does (see the lifeline there).
 */
#include "gw.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SEEN_MAX 1024

static volatile sig_atomic_t stopping;

static void on_term(int sig) {
	(void)sig;
	stopping = 1;
}

/* When the keeper first saw each running workspace without activity. */
static struct {
	char name[WS_GW_NAME_MAX + 1];
	int64_t since_ms;
} seen[SEEN_MAX];
static size_t nseen;

static int64_t first_seen(const char *name, int64_t now) {
	size_t i;
	for (i = 0; i < nseen; i++) {
		if (strcmp(seen[i].name, name) == 0) {
			return seen[i].since_ms;
		}
	}
	if (nseen < SEEN_MAX) {
		snprintf(seen[nseen].name, sizeof(seen[nseen].name), "%s", name);
		seen[nseen++].since_ms = now;
	}
	return now;
}

static void forget(const char *name) {
	size_t i;
	for (i = 0; i < nseen; i++) {
		if (strcmp(seen[i].name, name) == 0) {
			seen[i] = seen[--nseen];
			return;
		}
	}
}

/* The last sign of use: the backend's activity (or, with none, when the
 * keeper first saw it so), and no earlier than its last wake.  0 with
 * *last, or -1 (logged). */
static int last_use(struct gw *g, const char *name, int64_t now, int64_t *last) {
	char detail[512];
	int64_t woken;

	*last = 0;
	if (gw_backend_activity(g, name, last, detail, sizeof(detail)) != 0) {
		gw_event(g, "gateway_problem", NULL, name, "reason", detail, NULL, 0);
		return -1;
	}
	if (*last <= 0) {
		*last = first_seen(name, now);
	} else {
		forget(name);
	}
	/* a wake of a long-idle workspace: its session has shown no activity
	 * yet, and a seen[] entry from before a stop and start is stale */
	woken = gw_woken_ms(g, name);
	if (woken > *last) {
		*last = woken;
	}
	return 0;
}

static void check_one(void *arg, const char *name, const char *state) {
	struct gw *g = arg;
	char detail[512], addr[300];
	int64_t last = 0, now = gw_now_ms(), idle_ms = (int64_t)g->cfg.gateway.idle_stop * 1000;
	enum gw_state st;
	unsigned int port;
	int lock;

	if (stopping || strcmp(state, "running") != 0) {
		forget(name);
		return;
	}
	if (last_use(g, name, now, &last) != 0 || now - last < idle_ms) {
		return;
	}
	if ((lock = gw_lock(g, name, 1)) < 0) {
		return; /* being woken or stopped right now */
	}
	/* what was read before the lock may be old news: a wake may have
	 * finished between the two (it writes woken/NAME under this lock) */
	now = gw_now_ms();
	if (gw_backend_status(g, name, &st, addr, sizeof(addr), &port, detail,
			sizeof(detail)) != 0 || st != GW_RUNNING
			|| last_use(g, name, now, &last) != 0 || now - last < idle_ms) {
		close(lock);
		return;
	}
	if (gw_backend_do(g, "stop", name, detail, sizeof(detail)) == 0) {
		gw_set_stop_reason(g, name, "idle");
		gw_event(g, "gateway_stop", NULL, name, "reason", "idle", "idle_ms", now - last);
		forget(name);
	} else {
		gw_event(g, "gateway_problem", NULL, name, "reason", detail, NULL, 0);
	}
	close(lock);
}

static int keep(struct gw *g) {
	unsigned int every = g->cfg.gateway.idle_stop / 4;
	char detail[512];
	struct stat st;
	/* descriptor 3: the listener's lifeline pipe, when the library ran us */
	int lifeline = fstat(3, &st) == 0 && S_ISFIFO(st.st_mode) ? 3 : -1;

	if (every > 30) {
		every = 30;
	}
	if (every == 0) {
		every = 1;
	}
	while (!stopping) {
		unsigned int slept;
		if (gw_backend_list(g, check_one, g, detail, sizeof(detail)) != 0) {
			gw_event(g, "gateway_problem", NULL, NULL, "reason", detail, NULL, 0);
		}
		/* in one-second steps: a stop request or a gone listener is
		 * noticed quickly */
		for (slept = 0; slept < every && !stopping; slept++) {
			struct pollfd pfd = { lifeline, POLLIN, 0 };
			if (lifeline < 0) {
				sleep(1);
			} else if (poll(&pfd, 1, 1000) == 1) {
				stopping = 1; /* EOF (or anything): the listener is gone */
			}
		}
	}
	return 0;
}

/* The rounds run in a child of this process, which waits for it: the
 * listener reaps its children without looking, so a keeper that crashed
 * or was killed (out of memory, say) would end unnoticed and workspaces
 * would never be stopped again.  Here its end is logged.  A stop request
 * (SIGTERM, SIGINT) is passed on, with KEEPER_STOP_MS to act on it. */
#define KEEPER_STOP_MS 4000 /* below the library's wait (WS_GW_KEEPER_STOP_MS) */

int gw_keeper_main(struct gw *g) {
	struct sigaction sa;
	char why[128];
	int status = 0, waited = 0;
	pid_t pid, got;

	if (g->cfg.gateway.idle_stop == 0) {
		fprintf(stderr, "ws-gateway keeper: gateway_idle_stop is off\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term; /* no SA_RESTART: waitpid() returns to look */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	pid = fork();
	if (pid == 0) {
		_exit(keep(g));
	}
	if (pid < 0) {
		return keep(g);
	}
	for (;;) {
		got = waitpid(pid, &status, stopping ? WNOHANG : 0);
		if (got == pid || (got < 0 && errno != EINTR)) {
			break;
		}
		if (stopping) {
			struct timespec step = { 0, 50 * 1000000L };
			if (waited == 0) {
				kill(pid, SIGTERM);
			} else if (waited >= KEEPER_STOP_MS) {
				kill(pid, SIGKILL);
			}
			nanosleep(&step, NULL);
			waited += 50;
		}
	}
	if (got != pid || stopping) {
		return 0;
	}
	if (WIFSIGNALED(status)) {
		snprintf(why, sizeof(why), "the keeper was killed by signal %d; idle "
			"workspaces are not stopped until the server restarts", WTERMSIG(status));
	} else if (WEXITSTATUS(status) != 0) {
		snprintf(why, sizeof(why), "the keeper ended with exit status %d; idle "
			"workspaces are not stopped until the server restarts", WEXITSTATUS(status));
	} else {
		return 0; /* the listener is gone: nothing to keep */
	}
	gw_event(g, "gateway_problem", NULL, NULL, "reason", why, NULL, 0);
	return 1;
}
