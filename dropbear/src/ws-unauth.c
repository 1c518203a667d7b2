/*
 * ws-unauth.c - the listener's table of unauthenticated connections and the
 * connection process's reports of its progress (see ws-unauth.h).  Copied
 * into the upstream tree by the build; svr-main.c's accept loop and
 * svr-session.c's loop handler call it.
 */
#include "includes.h"
#include "dbutil.h"
#include "runopts.h"
#include "session.h"
#include "ws-unauth.h"

static unsigned int max_unauth = WS_MAX_UNAUTH_DEFAULT;
static unsigned int max_unauth_per_address = WS_MAX_UNAUTH_DEFAULT;

void ws_unauth_set_limits(unsigned int total, unsigned int per_address) {
	max_unauth = total;
	max_unauth_per_address = per_address;
}

unsigned int ws_max_unauth(void) {
	return max_unauth;
}

/* --- unauthenticated connections, in the listener --- */

struct unauth_slot {
	int pipefd;          /* -1 = free; at EOF once the child authed or left */
	pid_t pid;
	char *addr;
	unsigned char stage; /* enum ws_stage, as reported by the child */
	unsigned long seq;   /* when it reached its stage: the lowest is the oldest */
};
static struct unauth_slot *slots;
static unsigned long next_seq;

static const char *const stage_names[WS_STAGE_COUNT] = {
	"nothing received", "identification received", "KEXINIT received",
	"key exchange done", "authenticating",
};

static void release(struct unauth_slot *s) {
	m_close(s->pipefd);
	s->pipefd = -1;
	m_free(s->addr);
}

static void init_slots(void) {
	unsigned int i;
	if (slots != NULL) {
		return;
	}
	slots = m_malloc(sizeof(*slots) * max_unauth);
	for (i = 0; i < max_unauth; i++) {
		slots[i].pipefd = -1;
		slots[i].addr = NULL;
	}
}

/* Reads what the child wrote: its stages, then EOF once it has logged in
 * (svr-auth.c closes the pipe) or exited.  Returns 0 at EOF (the slot is
 * free to release), 1 while the child is still unauthenticated.  The pipe
 * is non-blocking: nothing to read is not an EOF. */
static int read_progress(struct unauth_slot *s) {
	unsigned char buf[16];
	ssize_t n, i;

	for (;;) {
		n = read(s->pipefd, buf, sizeof(buf));
		if (n == 0) {
			return 0;
		}
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			/* EAGAIN: all read; anything else: treat as gone */
			return errno == EAGAIN || errno == EWOULDBLOCK;
		}
		for (i = 0; i < n; i++) {
			/* only upward, and never past the last stage: a child
			 * cannot rank itself above a login in progress */
			if (buf[i] > s->stage && buf[i] < WS_STAGE_COUNT) {
				s->stage = buf[i];
				s->seq = next_seq++;
			}
		}
	}
}

int ws_unauth_fdset(fd_set *fds, int maxfd) {
	unsigned int i;
	init_slots();
	for (i = 0; i < max_unauth; i++) {
		if (slots[i].pipefd >= 0) {
			dropbear_fd_set(slots[i].pipefd, fds);
			maxfd = MAX(maxfd, slots[i].pipefd);
		}
	}
	return maxfd;
}

void ws_unauth_reap(const fd_set *fds) {
	unsigned int i;
	for (i = 0; i < max_unauth; i++) {
		if (slots[i].pipefd >= 0 && FD_ISSET(slots[i].pipefd, fds)
				&& !read_progress(&slots[i])) {
			release(&slots[i]);
		}
	}
}

/* Closes an unauthenticated connection to free its slot.  Its pipe is read
 * first: at EOF the child already authenticated (or exited), and then its
 * pid must not be signalled. */
static void evict(struct unauth_slot *s, const char *why) {
	TRACE(("evict: %s, pid %ld from %s at stage %u (seq %lu)", why, (long)s->pid,
		s->addr, (unsigned int)s->stage, s->seq))
	if (read_progress(s)) {
		dropbear_log(LOG_NOTICE, "%s: closing the oldest unauthenticated connection "
			"of those least far (from %s, %s)", why, s->addr, stage_names[s->stage]);
		/* the child exits through its SIGTERM handler, so its hook
		 * library still reports the disconnect */
		kill(s->pid, SIGTERM);
	} else {
		TRACE(("evict: pid %ld had already left the table", (long)s->pid))
	}
	release(s);
}

/* Is a a better victim than b: less far, or as far but there first? */
static int before(const struct unauth_slot *a, const struct unauth_slot *b) {
	return b == NULL || a->stage < b->stage
		|| (a->stage == b->stage && a->seq < b->seq);
}

int ws_unauth_full(void) {
	unsigned int i;
	init_slots();
	for (i = 0; i < max_unauth; i++) {
		if (slots[i].pipefd < 0) {
			return 0;
		}
	}
	return 1;
}

int ws_unauth_admit(const char *addr) {
	struct unauth_slot *victim, *victim_here;
	unsigned int i, total, here, pass;
	int free_slot;

	init_slots();
	for (pass = 0; ; pass++) {
		victim = victim_here = NULL;
		total = here = 0;
		free_slot = -1;
		for (i = 0; i < max_unauth; i++) {
			struct unauth_slot *s = &slots[i];
			/* Full: first read what every child reported since the
			 * last select() - a stage byte still in its pipe would
			 * make it look less far than it is, an EOF frees it. */
			if (pass == 1 && s->pipefd >= 0 && !read_progress(s)) {
				release(s);
			}
			if (s->pipefd < 0) {
				free_slot = (int)i;
				continue;
			}
			total++;
			if (before(s, victim)) {
				victim = s;
			}
			if (strcmp(s->addr, addr) == 0) {
				here++;
				if (before(s, victim_here)) {
					victim_here = s;
				}
			}
		}
		if (pass == 1 || (here < max_unauth_per_address && total < max_unauth)) {
			break;
		}
	}
	if (here >= max_unauth_per_address) {
		free_slot = (int)(victim_here - slots);
		evict(victim_here, "--max-unauth-per-address reached");
	} else if (total >= max_unauth) {
		free_slot = (int)(victim - slots);
		evict(victim, "--max-unauth reached");
	}
	return free_slot;
}

void ws_unauth_add(int slot, int pipefd, pid_t pid, char *addr, int spoke) {
	setnonblocking(pipefd);
	/* the read end is the listener's alone: a connection process (and the
	 * sessions it starts) must not hold the others' - reading one would
	 * steal that connection's progress reports */
	fcntl(pipefd, F_SETFD, FD_CLOEXEC);
	slots[slot].pipefd = pipefd;
	slots[slot].pid = pid;
	slots[slot].addr = addr;
	/* its identification line is on the way: a newcomer must not rank
	 * below the idle before its process has even read it */
	slots[slot].stage = spoke ? WS_STAGE_IDENT : WS_STAGE_CONNECTED;
	slots[slot].seq = next_seq++;
}

/* --- unauthenticated connections, in the connection process --- */

void ws_unauth_progress(void) {
	static unsigned char reported = WS_STAGE_CONNECTED;
	unsigned char stage = WS_STAGE_CONNECTED;

	/* no pipe (inetd mode, -F debugging), or closed at login */
	if (svr_ses.childpipe < 0 || ses.authstate.authdone) {
		return;
	}
#if DROPBEAR_FUZZ
	/* the fuzzers pass their fake socket as the pipe */
	if (fuzz.fuzzing) {
		return;
	}
#endif
	if (ses.remoteident != NULL) {
		stage = WS_STAGE_IDENT;
	}
	if (ses.kexstate.recvkexinit) {
		stage = WS_STAGE_KEXINIT;
	}
	if (ses.kexstate.donefirstkex) {
		stage = WS_STAGE_KEXDONE;
	}
	/* set by every userauth request (svr-auth.c) */
	if (ses.authstate.auth_starttime.tv_sec != 0 || ses.authstate.auth_starttime.tv_nsec != 0) {
		stage = WS_STAGE_AUTH;
	}
	if (stage > reported) {
		reported = stage;
		/* one byte, at most four per connection: a pipe never fills.
		 * If the listener has gone, SIGPIPE is ignored and so is this. */
		if (write(svr_ses.childpipe, &stage, 1) < 0) {
			TRACE(("progress report failed: %s", strerror(errno)))
		}
	}
}
