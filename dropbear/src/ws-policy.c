/*
 * ws-policy.c - runtime policy of the workspace server (see ws-policy.h).
 * Copied into the upstream tree by the build, like ws-hooks.c; the patch
 * series calls it from svr_getopts(), the listener loop, the auth timeout
 * check and the sftp subsystem.
 */
#include "includes.h"
#include "dbutil.h"
#include "algo.h"
#include "buffer.h"
#include "runopts.h"
#include "session.h"
#include "ws-park.h"
#include "ws-policy.h"

#include <poll.h>

/* The listener keeps one pipe per unauthenticated connection in a select()
 * fd_set: the cap stays well below FD_SETSIZE (1024), and ws-park.c's
 * parked connections take the rest of a budget of 900. */
#define WS_MAX_UNAUTH_LIMIT 512
/* Sized for a burst of 200 parallel logins from one address (behind
 * kubectl port-forward every client is 127.0.0.1), with room to spare. */
#define WS_MAX_UNAUTH_DEFAULT 256
/* Upstream waits 300 s; a key-only login needs a few seconds at most, and
 * a shorter wait frees the slots of clients that went silent. */
#define WS_AUTH_TIMEOUT_DEFAULT 60
#define WS_AUTH_TIMEOUT_MAX 3600

struct ws_policy_args ws_policy_args;

/* One runtime crypto profile: names of algorithms compiled in by
 * dropbear/localoptions.h, most preferred first.  Documented in docs/server.md. */
struct crypto_profile {
	const char *name;
	const char *kex, *ciphers, *macs;
};

#define KEX_PQ "mlkem768x25519-sha256,sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com"
#define KEX_X25519 "curve25519-sha256,curve25519-sha256@libssh.org"
#define CIPHERS_AEAD "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com"
#define CIPHERS_CTR "aes256-ctr,aes128-ctr"
#define MACS_ETM "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com"

static const struct crypto_profile profiles[] = {
	/* modern + finite-field DH and encrypt-and-MAC, for clients that
	 * predate curve25519 or ETM (old libssh2, JSch, embedded clients) */
	{ "compat", KEX_PQ "," KEX_X25519 ",diffie-hellman-group16-sha512,diffie-hellman-group14-sha256",
		CIPHERS_AEAD "," CIPHERS_CTR, MACS_ETM ",hmac-sha2-256,hmac-sha2-512" },
	/* what every current client speaks; PQ hybrids first */
	{ "modern", KEX_PQ "," KEX_X25519, CIPHERS_AEAD "," CIPHERS_CTR, MACS_ETM },
	/* PQ hybrid kex and AEAD only.  The MAC list is never used with AEAD
	 * ciphers, but some clients refuse a KEXINIT with an empty one. */
	{ "pq-only", KEX_PQ, CIPHERS_AEAD, MACS_ETM },
};
#define NPROFILES (sizeof(profiles) / sizeof(profiles[0]))
#define DEFAULT_PROFILE "modern"

static unsigned int max_unauth = WS_MAX_UNAUTH_DEFAULT;
static unsigned int max_unauth_per_address = WS_MAX_UNAUTH_DEFAULT;

/* A bad option stops startup.  Before the listener is up, syslog may lead
 * nowhere (a container has none): with syslog logging, stderr gets it too. */
static void policy_exit(const char *format, ...) ATTRIB_PRINTF(1,2) ATTRIB_NORETURN;
static void policy_exit(const char *format, ...) {
	char msg[300];
	va_list param;

	va_start(param, format);
	vsnprintf(msg, sizeof(msg), format, param);
	va_end(param);
	if (opts.usingsyslog) {
		char safe[DROPBEAR_LOG_SAFE_LEN(sizeof(msg))]; /* as the log is */
		dropbear_log_escape(msg, safe, sizeof(safe));
		fprintf(stderr, "dropbear: %s\n", safe);
	}
	dropbear_exit("%s", msg);
}

/* Strict: digits only, no sign, no spaces, within [min, max]. */
static unsigned int parse_number(const char *option, const char *value,
		unsigned int min, unsigned int max) {
	unsigned long v = 0;
	const char *p;

	for (p = value; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || v > max) {
			break;
		}
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (value[0] == '\0' || *p != '\0' || v < min || v > max) {
		policy_exit("Bad --%s '%s': expected a whole number from %u to %u",
			option, value, min, max);
	}
	return (unsigned int)v;
}

static int algo_listed(const algo_type *algos, const char *name) {
	const algo_type *a;
	for (a = algos; a->name != NULL; a++) {
		if (strcmp(a->name, name) == 0) {
			return 1;
		}
	}
	return 0;
}

/* Reduces algos[] to `wanted`, in that order.  Entries without data in
 * sshkex[] are protocol markers (strict kex, ext-info, kexguess2), not
 * algorithms: they are kept whatever the profile. */
static void apply_list(const char *profile, const char *what, const char *wanted,
		algo_type *algos, int keep_markers) {
	buffer *list = buf_new(1000);
	char *names = m_strdup(wanted), *name, *save = NULL;
	const algo_type *a;

	for (name = strtok_r(names, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		/* a profile naming something localoptions.h left out is our bug */
		if (!algo_listed(algos, name)) {
			policy_exit("Crypto profile %s: %s algorithm %s is not compiled in",
				profile, what, name);
		}
	}
	buf_putbytes(list, (const unsigned char *)wanted, strlen(wanted));
	for (a = algos; keep_markers && a->name != NULL; a++) {
		if (a->data == NULL) {
			buf_putbyte(list, ',');
			buf_putbytes(list, (const unsigned char *)a->name, strlen(a->name));
		}
	}
	buf_putbyte(list, '\0');
	check_user_algos((const char *)list->data, algos, what);
	buf_free(list);
	m_free(names);
}

static void apply_crypto_profile(const char *name) {
	const struct crypto_profile *p = NULL;
	size_t i;

	for (i = 0; i < NPROFILES; i++) {
		if (strcmp(profiles[i].name, name) == 0) {
			p = &profiles[i];
		}
	}
	if (p == NULL) {
		policy_exit("Unknown --crypto-profile '%s': expected compat, modern or pq-only", name);
	}
	apply_list(p->name, "kex", p->kex, sshkex, 1);
	apply_list(p->name, "cipher", p->ciphers, sshciphers, 0);
	apply_list(p->name, "MAC", p->macs, sshhashes, 0);
	/* Compressing before encrypting leaks plaintext through packet sizes,
	 * and costs the workspace's CPU: off in every profile. */
	opts.compression = 0;
}

void ws_policy_apply(void) {
	const struct ws_policy_args *a = &ws_policy_args;

	apply_crypto_profile(a->crypto_profile ? a->crypto_profile : DEFAULT_PROFILE);
	if (a->max_unauth) {
		max_unauth = parse_number("max-unauth", a->max_unauth, 1, WS_MAX_UNAUTH_LIMIT);
	}
	/* per address defaults to the total: behind a port-forward or a load
	 * balancer every client has the same address */
	max_unauth_per_address = max_unauth;
	if (a->max_unauth_per_address) {
		max_unauth_per_address = parse_number("max-unauth-per-address",
			a->max_unauth_per_address, 1, max_unauth);
	}
	auth_timeout_secs = WS_AUTH_TIMEOUT_DEFAULT;
	if (a->auth_timeout) {
		auth_timeout_secs = parse_number("auth-timeout", a->auth_timeout,
			1, WS_AUTH_TIMEOUT_MAX);
	}
	if (a->sftp_server && a->sftp_server[0] != '/') {
		policy_exit("Bad --sftp-server '%s': expected an absolute path", a->sftp_server);
	}
	if (svr_opts.reexec_childpipe < 0 && access(ws_policy_sftp_server(), X_OK) != 0) {
		/* not fatal: an image may leave sftp out on purpose */
		dropbear_log(LOG_WARNING, "sftp-server %s is not executable: sftp will fail",
			ws_policy_sftp_server());
	}
}

const char *ws_policy_sftp_server(void) {
	return ws_policy_args.sftp_server ? ws_policy_args.sftp_server : SFTPSERVER_PATH;
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
	if (read_progress(s)) {
		dropbear_log(LOG_NOTICE, "%s: closing the oldest unauthenticated connection "
			"of those least far (from %s, %s)", why, s->addr, stage_names[s->stage]);
		/* the child exits through its SIGTERM handler, so its hook
		 * library still reports the disconnect */
		kill(s->pid, SIGTERM);
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

/* --- the listener's shutdown --- */

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
