/*
 * ws_hook.h - the ssh-workspace hook ABI.
 *
 * The patched Dropbear server (`dropbear --hook=LIB.so --hook-config=FILE`)
 * dlopen()s LIB.so once per process, looks up the symbol WS_HOOK_ENTRY_SYMBOL
 * and calls it to get a `struct ws_hooks`.  The same header is what plugin
 * authors build against.
 *
 * Compatibility rules (why they exist: the server and the library are built
 * and shipped separately, so neither may assume the other's exact layout):
 *  - `abi_version` changes only when an existing field changes meaning or
 *    position.  The server refuses a library whose version differs.
 *  - New callbacks and new info fields are only ever appended.  Every struct
 *    carries `struct_size`: the server calls only the callbacks that lie inside
 *    the library's `struct_size`, and a library reads info fields only when
 *    they lie inside the info struct's `struct_size` (see WS_HOOK_HAS).
 *  - Every callback is optional (NULL = not interested).
 *  - Strings passed in are NUL-terminated, owned by the server and valid only
 *    for the duration of the call.  Values a client sent are untrusted input.
 */
#ifndef WS_HOOK_H
#define WS_HOOK_H

#include <stddef.h>
#include <stdint.h>

#define WS_HOOK_ABI_VERSION 1u
#define WS_HOOK_ENTRY_SYMBOL "ws_hook_entry"

/* What the int callbacks return, by name, so that every library and the
 * server read them the same way.  The values are part of ABI 1: they are
 * the numbers the first release documented, and never change.
 *  - startup, session_env (and ws_env_set_fn): WS_HOOK_OK to go on,
 *    WS_HOOK_FAIL (any non-zero) to stop the server or refuse the session.
 *  - client_env, agent_request: WS_HOOK_ACCEPT or WS_HOOK_REFUSE. */
#define WS_HOOK_OK 0
#define WS_HOOK_FAIL (-1)
#define WS_HOOK_ACCEPT 1
#define WS_HOOK_REFUSE 0

/* Marks the entry point exported: a library is best built with
 * -fvisibility=hidden, so nothing else it defines can clash with the
 * server's symbols or another library's. */
#define WS_HOOK_EXPORT __attribute__((visibility("default")))

/* Is `field` inside the part of `*ptr` that its producer knew about? */
#define WS_HOOK_HAS(ptr, type, field) \
	((ptr)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* One client connection (one server process). */
struct ws_conn {
	uint32_t struct_size;
	const char *session_id;      /* 16 hex digits, random per connection */
	const char *client_addr;     /* numeric address, e.g. "127.0.0.1" */
	const char *client_port;
	const char *user;            /* NULL until authenticated; in authorized_keys
	                                and tcp_route: the login name */
	const char *auth_method;     /* "publickey"; NULL until authenticated */
	const char *key_fingerprint; /* "SHA256:..."; NULL until authenticated */
	long pid;                    /* the connection's server process */
};

/* One session channel: a shell, an exec command or a subsystem. */
struct ws_session {
	uint32_t struct_size;
	const struct ws_conn *conn;
	unsigned int channel;        /* the server's channel number */
	const char *kind;            /* "shell", "exec" or "subsystem" */
	const char *command;         /* what will run; NULL for a login shell */
	const char *term;            /* TERM of the pty; NULL without a pty */

	/* --- appended after the first release of ABI 1 --- */
	unsigned int key_options;    /* WS_KEY_* for the key that logged in */
};

/* ws_session.key_options: what authorized_keys (or the server's -c option)
 * imposes on the key that logged in.  A library that lets client "env"
 * requests in needs them: a variable such as SHELLOPTS or PS4 makes the
 * shell run code before a forced command. */
#define WS_KEY_FORCED_COMMAND 0x1u   /* command="..." or dropbear -c */
#define WS_KEY_RESTRICT       0x2u   /* restrict */

/* How a session ended. */
struct ws_exit {
	uint32_t struct_size;
	int exit_status;             /* -1 if it was killed or never started */
	int exit_signal;             /* 0 if not killed by a signal */
	uint64_t bytes_in;           /* client -> session (stdin) */
	uint64_t bytes_out;          /* session -> client (stdout + stderr) */
};

/* A connection's recent activity (see the activity callback). */
struct ws_activity {
	uint32_t struct_size;
	int64_t last_activity_ms;    /* wall clock, ms since the epoch: the last
	                                packet that was not a keepalive */
	unsigned int channels;       /* open channels (sessions, forwards) */
};

/* Given to session_env: adds NAME=VALUE to the session's environment.
 * Returns WS_HOOK_OK, or WS_HOOK_FAIL if the server refused it (bad name,
 * server limit). */
typedef int (*ws_env_set_fn)(void *env_ctx, const char *name, const char *value);

/* What tcp_route (below) returns. */
#define WS_ROUTE_DEFAULT 0
#define WS_ROUTE_REFUSE 1
#define WS_ROUTE_PENDING 2

struct ws_hooks {
	uint32_t abi_version;        /* WS_HOOK_ABI_VERSION the library was built for */
	uint32_t struct_size;        /* sizeof(struct ws_hooks) the library was built with */
	const char *name;            /* for log lines */

	/* Called once per process before anything else.  config_path may be NULL.
	 * is_listener is 1 in the process that accepts connections (called before
	 * it listens, so a bad config stops startup) and 0 in a connection process.
	 * Return WS_HOOK_OK; otherwise write a one-line reason into err and
	 * return WS_HOOK_FAIL. */
	int (*startup)(void **ctx, const char *config_path, int is_listener,
		char *err, size_t errlen);

	/* A client connected (before key exchange). */
	void (*connect)(void *ctx, const struct ws_conn *conn);

	/* The client authenticated; conn->user/auth_method/key_fingerprint are set. */
	void (*auth_success)(void *ctx, const struct ws_conn *conn);

	/* The client sent an "env" request (OpenSSH SendEnv/SetEnv) before its
	 * shell/exec.  Return WS_HOOK_ACCEPT to accept NAME=VALUE into the
	 * session, WS_HOOK_REFUSE to refuse.  Without this callback every request
	 * is refused. */
	int (*client_env)(void *ctx, const struct ws_session *s,
		const char *name, const char *value);

	/* The session is about to start: add variables with set().  Runs in the
	 * connection process before the child is created.  Variables set here come
	 * after the server's standard ones and before accepted client env.
	 * Return WS_HOOK_OK to go on, WS_HOOK_FAIL (any non-zero) to refuse the
	 * session. */
	int (*session_env)(void *ctx, const struct ws_session *s,
		ws_env_set_fn set, void *env_ctx);

	/* The session's process was created. */
	void (*session_start)(void *ctx, const struct ws_session *s, long child_pid);

	/* A forwarded agent socket was created (opened = 1) or removed (0). */
	void (*agent_socket)(void *ctx, const struct ws_session *s,
		const char *path, int opened);

	/* The session channel closed. */
	void (*session_exit)(void *ctx, const struct ws_session *s,
		const struct ws_exit *e);

	/* The connection ended; reason is the server's exit message. */
	void (*disconnect)(void *ctx, const struct ws_conn *conn, const char *reason);

	/* The process is exiting (listener or connection). */
	void (*shutdown)(void *ctx);

	/* --- appended after the first release of ABI 1 --- */

	/* The client asked to forward its agent (auth-agent-req) on session s,
	 * before the server creates the socket.  Return WS_HOOK_ACCEPT, or
	 * WS_HOOK_REFUSE to refuse.  Without this callback it is accepted. */
	int (*agent_request)(void *ctx, const struct ws_session *s);

	/* In the session's child just before exec: the SSH_AUTH_SOCK value the
	 * session gets, or NULL for the server's own (the session's forwarded
	 * socket, if it has one).  key_allows_agent is 0 when authorized_keys
	 * says no-agent-forwarding or restrict for the key that logged in. */
	const char *(*agent_env_path)(void *ctx, const struct ws_session *s,
		int key_allows_agent);

	/* The connection's activity changed: called after authentication, at
	 * most once a second, when the last packet time or the channel count
	 * differs from the previous call.  After data stops, the final call may
	 * come up to the keepalive interval (-K) late; its time is exact. */
	void (*activity)(void *ctx, const struct ws_conn *conn,
		const struct ws_activity *a);

	/* The server refused a client "env" request without asking client_env:
	 * a name that is not [A-Za-z_][A-Za-z0-9_]* of at most 255 bytes, a NUL
	 * byte in the name or the value, a request after the session started,
	 * or (after client_env accepted it) the server's caps.  name is the name
	 * as the client sent it: name_len bytes, not NUL-terminated, maybe with
	 * NULs and bytes that are not UTF-8 in it.  The value is not passed.
	 * reason is a short phrase ("invalid name", ...). */
	void (*client_env_refused)(void *ctx, const struct ws_session *s,
		const char *name, size_t name_len, const char *reason);

	/* --- appended for the gateway role --- */

	/* Gateway role.  A login name: return 1 if the user exists.  The login then
	 * runs as the server's own uid/gid, with the server user's home and /bin/sh.
	 * 0 = unknown user: refused exactly like a wrong key (same message, same
	 * delay).  Without this callback, upstream's getpwnam() rules apply. */
	int (*user_lookup)(void *ctx, const struct ws_conn *conn, const char *user);

	/* The authorized_keys lines for `user`: return a descriptor open for reading
	 * (the server reads it to EOF as an authorized_keys file, options included,
	 * and closes it), or -1 for no keys.  Called for each key the client offers.
	 * Without this callback the server reads its -D directory / ~/.ssh as usual. */
	int (*authorized_keys)(void *ctx, const struct ws_conn *conn, const char *user);

	/* A direct-tcpip request (ssh -W / -J / -L) after the server's own checks
	 * (-j, permitopen=).  Return:
	 *   WS_ROUTE_DEFAULT (0)  the server connects to host:port as usual;
	 *   WS_ROUTE_REFUSE  (1)  refuse; `reason` (NUL-terminated, at most reasonlen)
	 *                         is sent as the open-failure description, which the
	 *                         OpenSSH client prints ("open failed: administratively
	 *                         prohibited: REASON");
	 *   WS_ROUTE_PENDING (2)  *fd_out is a descriptor (a socketpair end) that the
	 *                         server watches in its main loop without blocking;
	 *                         when it is readable the server receives one message:
	 *                         with one descriptor attached (SCM_RIGHTS) = the
	 *                         connected socket to relay the channel to; without
	 *                         one, the bytes are the refusal reason.  The server
	 *                         closes *fd_out afterwards, or when the channel is
	 *                         closed first. */
	int (*tcp_route)(void *ctx, const struct ws_conn *conn, const char *host,
		unsigned int port, int *fd_out, char *reason, size_t reasonlen);
};

/* The one symbol a hook library exports (define it with WS_HOOK_EXPORT). */
typedef const struct ws_hooks *(*ws_hook_entry_fn)(void);
WS_HOOK_EXPORT const struct ws_hooks *ws_hook_entry(void);

#endif /* WS_HOOK_H */
