/*
 * ws-unauth.h - limits on unauthenticated connections, kept by the listener
 * (--max-unauth, --max-unauth-per-address): upstream's compile-time
 * MAX_UNAUTH_CLIENTS and MAX_UNAUTH_PER_IP, as OpenSSH's srclimit.c keeps
 * its MaxStartups and PerSourceMaxStartups.
 */
#ifndef WS_UNAUTH_H
#define WS_UNAUTH_H

#include <sys/types.h>
#include <sys/select.h>

/* The listener keeps one pipe per unauthenticated connection in a select()
 * fd_set: the cap stays well below FD_SETSIZE (1024), and ws-park.c's
 * parked connections take the rest of a budget of 900. */
#define WS_MAX_UNAUTH_LIMIT 512
/* Sized for a burst of 200 parallel logins from one address (behind
 * kubectl port-forward every client is 127.0.0.1), with room to spare. */
#define WS_MAX_UNAUTH_DEFAULT 256

/* From ws_runopts_apply(), before the listener accepts anything:
 * 1 <= per_address <= total <= WS_MAX_UNAUTH_LIMIT. */
void ws_unauth_set_limits(unsigned int total, unsigned int per_address);
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

#endif
