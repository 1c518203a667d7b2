/*
 * ws-route.h - direct-tcpip channels routed by the hook library (tcp_route
 * in ws_hook.h): refused with a reason, or connected later to a socket the
 * library hands over, while the connection's main loop goes on.
 */
#ifndef WS_ROUTE_H
#define WS_ROUTE_H

#include <sys/select.h>

struct Channel;
struct buf;

/* Connections waiting for a route, per client connection.  Each holds a
 * descriptor and, in the library, usually a process: a client must not be
 * able to pile them up. */
#define WS_ROUTE_MAX_PENDING 16
/* A refusal reason from the library is cut to this many bytes. */
#define WS_ROUTE_REASON_MAX 256

/* ws_route_direct(): the server connects to the destination itself. */
#define WS_ROUTE_UPSTREAM (-1)

/* newtcpdirect(), after upstream's checks: host is hostlen bytes from the
 * client.  Returns WS_ROUTE_UPSTREAM (no library, or it said DEFAULT),
 * SSH_OPEN_IN_PROGRESS (a route is pending: the open is confirmed or
 * refused later), or an SSH_OPEN_* failure code whose description has been
 * given to channel_set_open_failure_text(). */
int ws_route_direct(struct Channel *channel, const char *host, unsigned int hostlen,
	unsigned int port);

/* newtcpdirect()'s destination host, read as buf_getstring() does but up
 * to what the packet holds rather than MAX_STRING_LEN, past which
 * buf_getstring() ends the whole connection; *len is its length. */
char *ws_route_getstring(struct buf *buf, unsigned int *len);

/* newtcpdirect(), for a host longer than upstream's MAX_HOST_LEN: always a
 * refusal, for the channel only; a library that routes is asked, so the
 * client gets its reason (a name too long for a workspace) and it logs the
 * refusal.  Returns the SSH_OPEN_* failure code. */
int ws_route_long_host(const char *host, unsigned int hostlen, unsigned int port);

/* The session's main loop: watch the pending routes' descriptors, and take
 * the answers of those that are readable. */
void ws_route_set_fds(fd_set *readfds);
void ws_route_handle_fds(const fd_set *readfds);

/* The direct-tcpip channel type's cleanup: a route still pending for the
 * channel is dropped (its descriptor closed). */
void ws_route_channel_cleanup(const struct Channel *channel);

#endif
