/*
 * ws-policy.h - the workspace server's runtime policy: crypto profiles,
 * limits on unauthenticated connections, auth timeout, sftp-server path.
 * Upstream fixes these at compile time; a workspace image is built once and
 * configured per deployment, so they are options (docs/server.md).
 */
#ifndef WS_POLICY_H
#define WS_POLICY_H

#include <sys/types.h>
#include <sys/select.h>

/* The raw option values, filled by the long-option table in ws-hooks.c and
 * checked by ws_policy_apply(); NULL = not given. */
struct ws_policy_args {
	char *crypto_profile;
	char *max_unauth;
	char *max_unauth_per_address;
	char *auth_timeout;
	char *sftp_server;
};
extern struct ws_policy_args ws_policy_args;

/* Checks every policy option and applies it; exits with a message naming
 * the option on a bad value.  Runs at the end of svr_getopts(), so in the
 * listener (before it listens) and again in every re-exec'd connection. */
void ws_policy_apply(void);

const char *ws_policy_sftp_server(void);
unsigned int ws_max_unauth(void);

/* The listener's table of unauthenticated connections (svr-main.c).  When it
 * is full - in total or for one address - a connection is closed to make
 * room: the one that has come least far (enum ws_stage), and of those the
 * one that reached its stage first.  A flood that does not speak SSH then
 * only ever displaces itself, never a login that is under way. */
int ws_unauth_fdset(fd_set *fds, int maxfd);
void ws_unauth_reap(const fd_set *fds);
/* Is every slot taken (a new connection would evict one)? */
int ws_unauth_full(void);
/* A free slot for a connection from addr, making room if needed. */
int ws_unauth_admit(const char *addr);
/* Takes ownership of addr.  spoke: the client has sent its first bytes
 * (ws-park.c saw them), so it starts at WS_STAGE_IDENT. */
void ws_unauth_add(int slot, int pipefd, pid_t pid, char *addr, int spoke);

/* How far an unauthenticated connection has come.  The connection process
 * writes each stage it reaches as one byte to its childpipe (upstream's
 * pipe to the listener, closed at login); the listener only ever raises a
 * slot's stage, so a process can claim no more than a real login has. */
enum ws_stage {
	WS_STAGE_CONNECTED = 0,  /* nothing from the client yet */
	WS_STAGE_IDENT,          /* its identification line */
	WS_STAGE_KEXINIT,        /* its KEXINIT */
	WS_STAGE_KEXDONE,        /* the first key exchange is complete */
	WS_STAGE_AUTH,           /* it has sent an authentication request */
	WS_STAGE_COUNT
};
/* In the connection process, once per main loop iteration: reports a new
 * stage to the listener. */
void ws_unauth_progress(void);

/* The listener got SIGTERM or SIGINT (its listening sockets are closed):
 * sends SIGTERM to every connection process, waits up to 5 s for them to
 * end, logs how many it ended.  The caller then exits. */
void ws_end_connections(void);

#endif
