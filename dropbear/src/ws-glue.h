/*
 * ws-glue.h - the server side of the ssh-workspace hook ABI (ws_hook.h, the
 * library's side).  Upstream files call these at their hook points; each is
 * a no-op when no hook library is loaded, so the server also runs without
 * one.  The options that name the library are in ws-runopts.h.
 */
#ifndef WS_GLUE_H
#define WS_GLUE_H

struct Channel;
struct ChanSess;

/* Loads the library --hook names and runs its startup; exits with a clear
 * message on any failure.  Called before the listener opens its sockets. */
void ws_hooks_load(int is_listener);

void ws_hooks_connect(void);
void ws_hooks_auth_success(const char *method, const char *fingerprint);

void ws_hooks_chansess_new(const struct Channel *channel, struct ChanSess *chansess);
/* "env" channel request: reads name and value from the payload. */
int ws_hooks_client_env(struct ChanSess *chansess);
/* Before the session's child is created: records the kind and asks the
 * library for variables.  DROPBEAR_FAILURE refuses the session. */
int ws_hooks_session_prepare(struct ChanSess *chansess, int iscmd, int issubsys);
void ws_hooks_session_started(struct ChanSess *chansess);
/* In the child, after the standard variables and before the agent's. */
void ws_hooks_apply_env(const struct ChanSess *chansess);
/* auth-agent-req: DROPBEAR_FAILURE if the library refuses it. */
int ws_hooks_agent_request(const struct ChanSess *chansess);
/* In the child: SSH_AUTH_SOCK from the library, or NULL for upstream's. */
const char *ws_hooks_agent_env_path(const struct ChanSess *chansess, int key_allows_agent);
void ws_hooks_agent_socket(const struct ChanSess *chansess, const char *path, int opened);
void ws_hooks_session_exit(const struct Channel *channel, struct ChanSess *chansess);

/* From the server's main loop: reports activity (rate-limited here). */
void ws_hooks_activity(void);

/* For the glue of later hooks in files of their own (ws-gwauth.c,
 * ws-route.c): the library's table and context, with *c filled for this
 * connection; NULL without a library or outside the connection process.
 * The caller checks the callback against struct_size (WS_HOOK_CALLABLE). */
struct ws_hooks;
struct ws_conn;
const struct ws_hooks *ws_hooks_for_call(void **ctx, struct ws_conn *c);
#define WS_HOOK_CALLABLE(h, f) ((h) != NULL \
	&& (h)->struct_size >= offsetof(struct ws_hooks, f) + sizeof((h)->f) \
	&& (h)->f != NULL)

/* The library decides who the users are (user_lookup): the gateway role. */
int ws_hooks_gateway_role(void);

/* The process is exiting with this message. */
void ws_hooks_exit(const char *reason);

#endif
