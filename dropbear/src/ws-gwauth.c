/*
 * ws-gwauth.c - gateway logins (ws-gwauth.h).  In the gateway role the users
 * are not accounts on the machine: the hook library says who exists and
 * hands over their authorized_keys lines, and every login runs as the
 * server's own uid, as it is the only one an unprivileged server can run.
 *
 * The library's answers are trusted (it is the server's own code); what the
 * library reads them from is not, so the keys it returns are read with a
 * cap on time and size before upstream's parser sees them.
 */
#include "includes.h"
#include "dbutil.h"
#include "session.h"
#include "auth.h"
#include "ws-glue.h"
#include "ws_hook.h"
#include "ws-gwauth.h"

#include <poll.h>

/* Upstream reads at most MAX_AUTHKEYS_LINE_COUNT lines of an authorized_keys
 * file and matches only lines of at most 3000 bytes (MAX_AUTHKEYS_LINE in
 * svr-authpubkey.c): more than that from the library cannot be a key that
 * would be used, so it is not read. */
#define WS_GWAUTH_KEYS_MAX ((size_t)MAX_AUTHKEYS_LINE_COUNT * 3001)
/* The library is asked for each key offered, during authentication, while
 * nothing else of the connection runs: a descriptor that never reaches EOF
 * must not hold it longer than this. */
#define WS_GWAUTH_KEYS_SECONDS 10

/* The login came from user_lookup: there is no passwd entry for it. */
static int virtual_user;
/* The lines the last FILE of ws_gwauth_keys() reads: checkpubkey() has
 * closed that FILE by the time it asks again. */
static char *keys_data;

static void set_field(char **field, const char *value) {
	m_free(*field);
	*field = value ? m_strdup(value) : NULL;
}

int ws_gwauth_fill_passwd(const char *username) {
	void *ctx;
	struct ws_conn c;
	const struct ws_hooks *h = ws_hooks_for_call(&ctx, &c);
	struct passwd *self;

	if (!WS_HOOK_CALLABLE(h, user_lookup)) {
		return 0;
	}
	/* as fill_passwd() does: a previous entry goes first */
	set_field(&ses.authstate.pw_name, NULL);
	set_field(&ses.authstate.pw_dir, NULL);
	set_field(&ses.authstate.pw_shell, NULL);
	set_field(&ses.authstate.pw_passwd, NULL);
	virtual_user = 0;
	if (h->user_lookup(ctx, &c, username) != 1) {
		/* pw_name NULL: checkusername() logs and refuses it exactly as a
		 * name getpwnam() does not know, so the log does not tell them apart */
		return 1;
	}
	virtual_user = 1;
	ses.authstate.pw_uid = geteuid();
	ses.authstate.pw_gid = getegid();
	set_field(&ses.authstate.pw_name, username);
	/* a server uid without a passwd entry (a container's arbitrary uid)
	 * still gets a home: the root */
	self = getpwuid(geteuid());
	set_field(&ses.authstate.pw_dir, self && self->pw_dir && self->pw_dir[0] ? self->pw_dir : "/");
	set_field(&ses.authstate.pw_shell, "/bin/sh");
	/* locked: the library vouches for keys only, never for a password */
	set_field(&ses.authstate.pw_passwd, "!!");
	return 1;
}

struct passwd *ws_gwauth_passwd(void) {
	static struct passwd pw;

	if (!virtual_user || ses.authstate.pw_name == NULL) {
		return NULL;
	}
	memset(&pw, 0, sizeof(pw));
	pw.pw_name = ses.authstate.pw_name;
	pw.pw_uid = ses.authstate.pw_uid;
	pw.pw_gid = ses.authstate.pw_gid;
	pw.pw_dir = ses.authstate.pw_dir;
	pw.pw_shell = ses.authstate.pw_shell;
	return &pw;
}

/* Reads fd to EOF, WS_GWAUTH_KEYS_MAX bytes or the deadline, whichever
 * comes first; returns how many bytes are in *out (0: none, *out NULL). */
static size_t read_keys(int fd, char **out) {
	size_t len = 0, size = 0;
	char *data = NULL;
	time_t deadline = monotonic_now() + WS_GWAUTH_KEYS_SECONDS;
	int fl = fcntl(fd, F_GETFL);

	/* poll() decides when to read; a non-blocking read then never blocks
	 * even if another reader of a shared pipe got there first */
	if (fl != -1) {
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	}
	while (len < WS_GWAUTH_KEYS_MAX) {
		struct pollfd p;
		time_t now = monotonic_now();
		ssize_t n;

		if (now >= deadline) {
			dropbear_log(LOG_WARNING, "Hook library's authorized_keys: not at EOF after %d seconds, read as far as it came",
				WS_GWAUTH_KEYS_SECONDS);
			break;
		}
		p.fd = fd;
		p.events = POLLIN;
		p.revents = 0;
		if (poll(&p, 1, (int)(deadline - now) * 1000) < 0) {
			if (errno == EINTR) {
				continue;
			}
			break;
		}
		if (p.revents == 0) {
			continue;
		}
		if (size - len < 4096) {
			size = MIN(MAX(size * 2, (size_t)16384), WS_GWAUTH_KEYS_MAX);
			data = m_realloc(data, size);
		}
		n = read(fd, data + len, size - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
			continue;
		}
		if (n <= 0) {
			break; /* EOF, or an error: what came so far is all */
		}
		len += (size_t)n;
	}
	if (len >= WS_GWAUTH_KEYS_MAX) {
		dropbear_log(LOG_WARNING, "Hook library's authorized_keys: only the first %lu bytes read",
			(unsigned long)WS_GWAUTH_KEYS_MAX);
	}
	if (len == 0) {
		m_free(data);
	}
	*out = data;
	return len;
}

int ws_gwauth_keys(FILE **file, char **name) {
	void *ctx;
	struct ws_conn c;
	const struct ws_hooks *h = ws_hooks_for_call(&ctx, &c);
	size_t len;
	int fd;

	if (!WS_HOOK_CALLABLE(h, authorized_keys)) {
		return DROPBEAR_FAILURE;
	}
	*file = NULL;
	*name = m_strdup("authorized_keys from the hook library");
	m_free(keys_data);
	/* the name is known (user_lookup or getpwnam said so) though not yet
	 * authenticated: the library is asked about that user */
	c.user = ses.authstate.pw_name;
	fd = h->authorized_keys(ctx, &c, ses.authstate.pw_name);
	if (fd < 0) {
		return DROPBEAR_SUCCESS; /* no keys: every key is refused */
	}
	len = read_keys(fd, &keys_data);
	m_close(fd);
	if (len > 0) {
		*file = fmemopen(keys_data, len, "r");
		if (*file == NULL) {
			dropbear_log(LOG_WARNING, "Hook library's authorized_keys: %s", strerror(errno));
		}
	}
	return DROPBEAR_SUCCESS;
}

int ws_gwauth_refuse_forwarding(const char *what) {
	if (!ws_hooks_gateway_role()) {
		return 0;
	}
	dropbear_log(LOG_INFO, "Gateway role: %s refused", what);
	return 1;
}
