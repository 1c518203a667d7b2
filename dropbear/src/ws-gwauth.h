/*
 * ws-gwauth.h - gateway logins: which users exist and their keys come from
 * the hook library (user_lookup, authorized_keys in ws_hook.h) instead of
 * the passwd database and ~/.ssh/authorized_keys.
 */
#ifndef WS_GWAUTH_H
#define WS_GWAUTH_H

#include <stdio.h>
#include <pwd.h>

/* checkusername(), first request, in place of fill_passwd(): returns 0 when
 * the library has no user_lookup (the caller runs fill_passwd()).  Otherwise
 * returns 1 with ses.authstate filled for a user the library knows (the
 * server's own uid/gid and home, /bin/sh), or with pw_name NULL for one it
 * does not: the caller's "nonexistent user" path.  The name's length and
 * NUL bytes are checked before. */
int ws_gwauth_fill_passwd(const char *username);

/* sessionpty(): the logged-in user's entry when it came from user_lookup
 * (no passwd entry to look up), else NULL. */
struct passwd *ws_gwauth_passwd(void);

/* checkpubkey(): DROPBEAR_FAILURE when the library has no authorized_keys
 * (the caller reads the file as usual).  DROPBEAR_SUCCESS when it answered:
 * *file is the lines to read (NULL = no keys) and *name what to call them
 * in log lines (free with m_free). */
int ws_gwauth_keys(FILE **file, char **name);

/* The gateway role relays jumps (direct-tcpip, routed by the library) and
 * nothing else: remote forwarding (tcpip-forward, streamlocal-forward)
 * would open listeners at the gateway, and direct-streamlocal reaches its
 * unix sockets (the container engine's).  Whatever -k, -j and the forced
 * command say: 1 (logged, `what` names the request) to refuse it. */
int ws_gwauth_refuse_forwarding(const char *what);

#endif
