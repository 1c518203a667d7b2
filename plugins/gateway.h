/*
 * gateway.h - the gateway role (docs/gateway.md): workspace names and who
 * may use them, the users' keys, and running helper programs with bounds.
 * Shared by the hook library (the server's user and route checks) and the
 * ws-gateway program (wake, control, keeper), so both apply one rule.
 */
#ifndef WS_GATEWAY_H
#define WS_GATEWAY_H

#include <signal.h>
#include <stddef.h>

#include "config.h"

#define WS_GW_NAME_MAX 63             /* one DNS label */
#define WS_GW_USER_MAX 32             /* a user name: no '-', see ws_gw_user_valid */
#define WS_GW_KEYS_MAX (64 * 1024)    /* a user's authorized_keys lines */
#define WS_GW_GRANTS_MAX (1024 * 1024)
#define WS_GW_KEYS_TIMEOUT_MS 5000    /* gateway_keys_command */
#define WS_GW_REASON_MAX 256          /* a refusal reason sent to the client */
#define WS_GW_WAKES_PER_MINUTE 30     /* wake processes one connection may start */
#define WS_GW_KEEPER_STOP_MS 5000     /* the keeper's time to stop at shutdown */
#define WS_GW_ENV_CONFIG "WS_GATEWAY_CONFIG" /* the hook config, for sessions */
#define WS_GW_ENV_LOG_FD "WS_GATEWAY_LOG_FD" /* the server's stderr, for control */
#define WS_GW_LOG_FD_MIN 1000                /* above the server's select() range */

/* config key setters (gateway_config.c), shaped like config.c's setters */
int ws_gw_set_role(struct ws_config *cfg, const char *value, char *why, size_t whylen);
int ws_gw_set_suffix(struct ws_config *cfg, const char *value, char *why, size_t whylen);
int ws_gw_set_grants(struct ws_config *cfg, const char *value, char *why, size_t whylen);
int ws_gw_set_idle_stop(struct ws_config *cfg, const char *value, char *why, size_t whylen);
int ws_gw_set_wake_timeout(struct ws_config *cfg, const char *value, char *why, size_t whylen);
int ws_gw_set_host(struct ws_config *cfg, const char *value, char *why, size_t whylen);
/* gateway_create's values */
#define WS_GW_CREATE_OFF 0
#define WS_GW_CREATE_ON 1             /* the name USER and every USER-* */
#define WS_GW_CREATE_OWN 2            /* the name USER only */
int ws_gw_parse_create(const char *value, int *mode);
int ws_gw_set_create(struct ws_config *cfg, const char *value, char *why, size_t whylen);
int ws_gw_set_user_limits(struct ws_config *cfg, const char *value, char *why, size_t whylen);
int ws_gw_set_workspace_user(struct ws_config *cfg, const char *value, char *why, size_t whylen);
/* the workspaces' login name that `config` prints */
const char *ws_gw_workspace_user(const struct ws_config *cfg);
int ws_gw_set_keys_command(struct ws_config *cfg, const char *value, char *why, size_t whylen);
/* After the whole file: the keys that only make sense together.  0, or -1
 * with the reason in why. */
int ws_gw_config_check(const struct ws_config *cfg, char *why, size_t whylen);
void ws_gw_config_free(struct ws_config *cfg);
/* gateway_program, or the installed ws-gateway. */
const char *ws_gw_program(const struct ws_config *cfg);

/* names (gateway_names.c) */
/* A lower-case DNS label: [a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?. */
int ws_gw_name_valid(const char *name);
/* A user name: [a-z0-9]{1,32}.  No '-': user U owns U-*, so a user named
 * "bob-ci" would be owned by "bob" (rm, stop, jump, or create it first
 * with bob's keys).  A workspace name, then, never is a user's but its
 * owner's or its owner's followed by '-'. */
int ws_gw_user_valid(const char *user);
/* user (a valid user name) owns `name`: it is the user's name or starts
 * with "USER-". */
int ws_gw_owns(const char *user, const char *name);
/* The grants text (lines "USER NAME", NAME may be "*"): 1 if it lets user
 * use name, 0 if not, -1 if the text is malformed (why says where). */
int ws_gw_grants_allow(const char *text, size_t len, const char *user, const char *name,
	char *why, size_t whylen);
/* Owned, or granted by cfg's grants file: 1 yes, 0 no, -1 the grants file
 * could not be used (why; the caller refuses and logs). */
int ws_gw_may_use(const struct ws_config *cfg, const char *user, const char *name,
	char *why, size_t whylen);
/* The workspace a destination names: "NAME" + suffix or a bare "NAME".
 * Copies it (at most outlen-1 bytes) and returns 0 if it is a valid name,
 * -1 if not (out then holds a printable, capped copy for the message). */
int ws_gw_parse_host(const char *host, const char *suffix, char *out, size_t outlen);
/* Reads a small file that only root or we can change (envtrust.c's rule).
 * 0 with *text (NUL-terminated, free()), 1 if it does not exist, -1 with why. */
int ws_gw_read_trusted(const char *path, size_t max, char **text, size_t *len,
	char *why, size_t whylen);

/* The next line of text at *p (before end) into line, without its "\n"
 * or "\r\n"; counts lines.  1, 0 at the end, or -1 with why for a line
 * too long for size or holding a NUL (gateway_names.c). */
int ws_gw_next_line(const char **p, const char *end, char *line, size_t size,
	unsigned int *lineno, char *why, size_t whylen);
/* gateway_user_limits (gateway_limits.c): USER's create mode and maximum,
 * the config's unless a line of the file names USER.  0, or -1 with why
 * (a malformed file is refused whole, as the grants file is). */
int ws_gw_limits_parse(const char *text, size_t len, const char *user, int *create,
	unsigned int *max, char *why, size_t whylen);
int ws_gw_user_limits(const struct ws_config *cfg, const char *user, int *create,
	unsigned int *max, char *why, size_t whylen);
/* May USER create NAME under create mode `create`? */
int ws_gw_may_create(int create, const char *user, const char *name);

/* running programs (gateway_run.c) */
struct ws_gw_result {
	char *out;          /* stdout, NUL-terminated (malloc) */
	size_t outlen;
	char err[256];      /* the first line of stderr */
	int status;         /* exit status, or -1 (killed, timed out, too much output) */
	int timed_out, too_big;
};
/* Runs argv[0] (absolute) with argv, the current environment plus `setenv`
 * ("NAME=VALUE" or NULL), in its own process group; stdin is /dev/null.
 * Stops it (the whole group) after timeout_ms or past outmax bytes of
 * stdout.  The call is over when it exits (what it wrote by then is read),
 * even if a process it started still holds the pipes.  0 when it ran (whatever the status), -1 if it could not start
 * (r->err says why).  Free r->out with ws_gw_result_free(). */
int ws_gw_run(char *const argv[], const char *setenv_, unsigned int timeout_ms, size_t outmax,
	struct ws_gw_result *r);
void ws_gw_result_free(struct ws_gw_result *r);
/* The process group of the helper ws_gw_run() is running, 0 between runs:
 * for a signal handler (wake's alarm) that must stop it before exiting. */
extern volatile sig_atomic_t ws_gw_running_pgid;
/* Closes every descriptor from `from` up (in a child before exec). */
void ws_gw_close_from(int from);

/* keys (gateway_keys.c) */
/* The authorized_keys lines of `user` from gateway_users_dir or
 * gateway_keys_command: 1 known (*keys malloc'd, NUL-terminated, maybe
 * empty), 0 unknown user, -1 refused for a reason worth logging (why). */
int ws_gw_user_keys(const struct ws_config *cfg, const char *user, char **keys, size_t *len,
	char *why, size_t whylen);
/* Is this authorized_keys text (not garbage): printable lines, each a key
 * line or a comment.  0, or -1 with why. */
int ws_gw_keys_text_ok(const char *text, size_t len, char *why, size_t whylen);

#endif
