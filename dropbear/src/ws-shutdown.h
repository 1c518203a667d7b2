/*
 * ws-shutdown.h - what the listener does on SIGTERM or SIGINT besides
 * upstream's exit: it ends its connection processes, each through its own
 * SIGTERM handler (a disconnect event, the hook library's cleanup), instead
 * of leaving them to the container's SIGKILL.
 */
#ifndef WS_SHUTDOWN_H
#define WS_SHUTDOWN_H

/* The listener got SIGTERM or SIGINT (its listening sockets are closed):
 * sends SIGTERM to every connection process, waits up to 5 s for them to
 * end, logs how many it ended.  The caller then exits. */
void ws_end_connections(void);

#endif
