/*
 * gw.h - the ws-gateway program's parts (docs/gateway.md): the backend
 * protocol, the state directory, wake, control and keeper.
 */
#ifndef WS_GW_H
#define WS_GW_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "eventlog.h"
#include "gateway.h"

#define GW_CALL_TIMEOUT_MS 30000      /* every backend call but start/create */
#define GW_OUT_MAX (64 * 1024)        /* a backend's answer */
#define GW_LIST_MAX (1024 * 1024)     /* `list` of every workspace */

struct gw {
	struct ws_config cfg;
	struct ws_eventlog log;
	const char *config_path;
	char host[256];                  /* for ProxyJump and messages */
};

enum gw_state { GW_MISSING, GW_STOPPED, GW_RUNNING };

/* backend.c: the command protocol.  Each returns 0, or -1 with the detail
 * (the backend's first stderr line, or what went wrong) in detail. */
int gw_backend_status(struct gw *g, const char *name, enum gw_state *state,
	char *addr, size_t addrlen, unsigned int *port, char *detail, size_t dlen);
int gw_backend_do(struct gw *g, const char *verb, const char *name, char *detail, size_t dlen);
int gw_backend_create(struct gw *g, const char *name, const char *keys_file,
	const char *hostkey_file, char *detail, size_t dlen);
/* Calls fn for each "NAME STATE" line (NAME valid). */
int gw_backend_list(struct gw *g, void (*fn)(void *arg, const char *name, const char *state),
	void *arg, char *detail, size_t dlen);
int gw_backend_activity(struct gw *g, const char *name, int64_t *ms, char *detail, size_t dlen);

/* state.c: STATE_DIR's files. */
/* Opens and flocks STATE/locks/NAME (blocking, or not with `try`);
 * returns the descriptor (close() unlocks) or -1. */
int gw_lock(struct gw *g, const char *name, int try_only);
/* Unlocks; `gone`: NAME turned out not to exist (and was not created), so
 * its lock file goes too -- names a user merely tried must not fill the
 * state directory. */
void gw_unlock(struct gw *g, const char *name, int fd, int gone);
/* Opens and flocks STATE/userlocks/USER (blocking), held from counting the
 * user's workspaces to creating one: creates of different names hold
 * different name locks, and would all pass the count.  Always taken after
 * a name lock, never before one, so the two cannot deadlock. */
int gw_user_lock(struct gw *g, const char *user);
/* "idle", "asked" or "" (not stopped by the gateway). */
void gw_stop_reason(struct gw *g, const char *name, char *out, size_t outlen);
int gw_set_stop_reason(struct gw *g, const char *name, const char *reason);
void gw_clear_stop_reason(struct gw *g, const char *name);
/* STATE/woken/NAME: written (now) under NAME's lock when a wake or start
 * hands it over running; read by the keeper under the same lock, so that a
 * workspace just woken is never stopped before its session shows activity.
 * gw_woken_ms() is 0 when there is none. */
int gw_set_woken(struct gw *g, const char *name);
int64_t gw_woken_ms(struct gw *g, const char *name);
/* What a user types to reach the gateway: "USER@HOST" or "-p PORT USER@HOST". */
const char *gw_ssh_to(const struct gw *g, const char *user);

/* Writes STATE/keys/NAME (gw_write_keys) and makes STATE/hostkeys/NAME
 * and NAME.pub if missing.  0, or -1 with why. */
int gw_prepare_files(struct gw *g, const char *name, char *keys_path,
	char *hostkey_path, size_t pathlen, char *why, size_t whylen);
/* (Re)writes STATE/keys/NAME with the workspace's keys as they are now
 * (keys.c); its path in keys_path.  0, or -1 with why. */
int gw_write_keys(struct gw *g, const char *name, char *keys_path, size_t pathlen,
	char *why, size_t whylen);
/* keys.c: the authorized_keys lines of NAME's owner and of the users the
 * grants file lets in.  0 with *text (free() it, wiped), or -1 with why. */
int gw_workspace_keys(struct gw *g, const char *name, char **text, size_t *len,
	char *why, size_t whylen);
/* Makes STATE/hostkeys/NAME and NAME.pub if missing (what create then
 * uses); its path in hostkey_path.  0, or -1 with why. */
int gw_make_host_key(struct gw *g, const char *name, char *hostkey_path, size_t pathlen,
	char *why, size_t whylen);
void gw_remove_files(struct gw *g, const char *name);
/* STATE/hostkeys/NAME.pub's "TYPE BASE64", or "" */
void gw_host_public_key(struct gw *g, const char *name, char *out, size_t outlen);
int64_t gw_now_ms(void);
void gw_event(struct gw *g, const char *event, const char *user, const char *name,
	const char *key, const char *value, const char *key2, long long value2);

/* wake.c: make `name` run and answer; 0 with addr/port, or -1 with the
 * refusal reason (one of docs/gateway.md's phrases). */
int gw_ensure_running(struct gw *g, const char *user, const char *name, int start_asked,
	char *addr, size_t addrlen, unsigned int *port, char *reason, size_t rlen);
/* Whether the last gw_ensure_running() found no workspace and made none. */
int gw_ensure_found_none(void);
int gw_wake_main(struct gw *g, const char *user, const char *name);
/* How many workspaces the user owns (backend list); -1 on error. */
int gw_count_owned(struct gw *g, const char *user, char *detail, size_t dlen);

int gw_control_main(struct gw *g);
int gw_keeper_main(struct gw *g);

#endif
