/*
 * envlist.h - the variables a session gets from the environment sources,
 * and the rules every source obeys (names, denylist, caps).
 *
 * Each source works on a copy of what earlier sources set (later wins);
 * envfetch.c keeps the copy only when the whole source succeeded, so a
 * source that fails half way leaves nothing behind, and the caps count the
 * session's whole environment.  Values are secrets: nothing here logs them.
 */
#ifndef WS_ENVLIST_H
#define WS_ENVLIST_H

#include <stddef.h>

#include "config.h"

struct ws_env_var {
	char *name;
	char *value;
};

struct ws_envlist {
	struct ws_env_var *vars;
	unsigned int count;
	size_t bytes;          /* sum of strlen(NAME=VALUE) */
	unsigned int taken;    /* variables put since the list was made or copied */
	unsigned int rejected; /* variables refused by the rules */
	char rejected_names[512]; /* "NAME (why), ..." for the log, capped */
};

/* Why a variable was refused; WS_ENV_OK if it was taken. */
enum ws_env_verdict {
	WS_ENV_OK,
	WS_ENV_BAD_NAME,     /* not [A-Za-z_][A-Za-z0-9_]*, or longer than 255 */
	WS_ENV_DENIED,       /* on the denylist */
	WS_ENV_NUL,          /* a NUL byte in the value */
	WS_ENV_TOO_LONG,     /* value longer than env_value_max */
	WS_ENV_TOO_MANY,     /* env_max_vars reached */
	WS_ENV_TOO_BIG,      /* env_max_bytes reached */
	WS_ENV_NO_MEMORY,
};

const char *ws_env_verdict_text(enum ws_env_verdict v);

int ws_env_name_valid(const char *name, size_t len);
/* WS_ENV_OK, WS_ENV_BAD_NAME or WS_ENV_DENIED; name need not be
 * NUL-terminated. */
enum ws_env_verdict ws_env_name_verdict(const struct ws_env_config *cfg, const char *name,
	size_t len);
/* On the denylist (envlist.c keeps it, with why each name is there):
 * who the user is (HOME, USER, ...), what the loader or a shell runs code
 * from (LD_*, BASH_ENV, SHELLOPTS, PS4, ...), and PATH unless
 * env_allow_path. */
int ws_env_name_denied(const struct ws_env_config *cfg, const char *name);
/* Does a blank-separated list of globs match name?  NULL = the default
 * client allowlist (LANG LC_* TERM COLORTERM TZ GIT_PROTOCOL). */
int ws_env_client_allowed(const char *globs, const char *name);
/* NULL if a client may send this value for this name, else why not (for
 * the client_env_refused event; it does not quote the value).  Only some
 * names have a rule: GIT_PROTOCOL takes [A-Za-z0-9._=:-], at most 128
 * bytes; any other name takes any value. */
const char *ws_env_client_value_refusal(const char *name, const char *value);

/* How much of a name the log shows, and room for it escaped. */
#define WS_ENV_NAME_LOGGED 64
#define WS_ENV_NAME_LOG_SIZE (WS_ENV_NAME_LOGGED * 4 + 4)
/* A name (len bytes, any bytes) as the log may show it: at most
 * WS_ENV_NAME_LOGGED bytes, "..." when cut, bytes other than printable
 * ASCII (and the backslash) as \xHH.  Returns out. */
const char *ws_env_name_for_log(const char *name, size_t len, char *out, size_t outlen);

void ws_envlist_init(struct ws_envlist *list);
void ws_envlist_free(struct ws_envlist *list);

/* Checks one variable against the rules and the caps and adds or replaces
 * it.  name/value need not be NUL-terminated.  A refusal is recorded in
 * list->rejected/rejected_names. */
enum ws_env_verdict ws_envlist_put(struct ws_envlist *list, const struct ws_env_config *cfg,
	const char *name, size_t nlen, const char *value, size_t vlen);

/* Records a refusal the caller decided on (e.g. a file too long to read). */
void ws_envlist_reject(struct ws_envlist *list, const char *name, size_t nlen,
	enum ws_env_verdict v);

/* dst (initialised or empty) becomes a copy of src's variables, with an
 * empty rejection record.  0, or -1 when out of memory. */
int ws_envlist_copy(struct ws_envlist *dst, const struct ws_envlist *src);

const char *ws_envlist_get(const struct ws_envlist *list, const char *name);

#endif
