/*
 * ws-park.h - connections the listener has accepted but not yet started a
 * process for.  Every SSH client we know of sends its identification line
 * as soon as it connects, so the listener waits for the first byte before
 * it forks and re-executes itself: a connection that sends nothing costs an
 * open descriptor, not a process.  A flood of idle connects then fills only
 * this park, whose oldest connections are closed to make room, and the
 * listener keeps accepting instead of forking: a silent connection gets a
 * process (for clients that wait for the server's banner) only after a
 * grace period, into a free slot of the table of unauthenticated
 * connections, and a few per turn of the accept loop.
 */
#ifndef WS_PARK_H
#define WS_PARK_H

#include <sys/types.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>

/* Accepts one connection from a listening socket into the park, closing the
 * oldest parked one if the park is full. */
void ws_park_accept(int listensock);

/* Adds the parked connections to fds (for the listener's pselect()). */
int ws_park_fdset(fd_set *fds, int maxfd);

/* How long pselect() may wait before a silent connection is due (see
 * ws-park.c); NULL when none is parked. */
struct timespec *ws_park_timeout(struct timespec *ts);

/* The next parked connection that is due a process - it has sent
 * something (*spoke = 1), or has waited out the grace period (*spoke = 0) -
 * removed from the park; -1 when there is none.  fds is what pselect()
 * returned (all clear after a timeout). */
int ws_park_take(const fd_set *fds, struct sockaddr_storage *addr, socklen_t *addrlen,
	int *spoke);

/* In a new connection process: closes the other parked connections (they
 * are close-on-exec too, for the re-exec). */
void ws_park_close_all(void);

#endif
