/*
 * config.h - the hook library's config file.
 *
 * Format: `key = value` lines; `#` starts a comment (at the start of a line
 * or after white space); a value may be double-quoted ("a \"b\" c").  Unknown
 * or repeated keys, bad values, over-long lines and over-large files are
 * errors that name the file and line: a workspace must not start with a
 * config that means something other than what its author wrote.
 */
#ifndef WS_CONFIG_H
#define WS_CONFIG_H

#include <stddef.h>

#define WS_CONFIG_MAX_BYTES (64 * 1024)
#define WS_CONFIG_MAX_LINE 4096

enum ws_event_log_kind {
	WS_EVENT_LOG_STDERR,
	WS_EVENT_LOG_OFF,
	WS_EVENT_LOG_FILE,
};

/* The environment fetcher's settings (envfetch.c); durations in ms, sizes
 * in bytes.  NULL paths mean the source is not configured. */
struct ws_env_config {
	char *dir;                /* global files; per-user files in DIR/USER/ */
	char *file;               /* dotenv file; "%u" is the user name */
	char *command;            /* helper command (absolute path) */
	unsigned int command_timeout_ms;
	char *socket;             /* Unix socket of an HTTP endpoint */
	char *socket_url;         /* request target; %u %s %a %f expanded */
	unsigned int socket_timeout_ms;
	unsigned int output_max;  /* cap on a helper's or endpoint's output */
	unsigned int max_vars;    /* caps on what all sources set together */
	unsigned int max_bytes;   /* sum of NAME=VALUE lengths */
	unsigned int value_max;   /* one value */
	int allow_path;           /* sources may set PATH */
	int fail_closed;          /* a failed source refuses the session */
	char *client_allow;       /* client env allowlist: globs, blank-separated */
	int client_forced_command; /* client env also for keys with a forced
	                              command or restrict */
};

/* Agent forwarding (agent.c). */
struct ws_agent_config {
	int forwarding;           /* clients may forward their agent */
	char *dir;                /* private per-user directory; "%u" = user */
	char *workspace_socket;   /* fallback agent, e.g. a sidecar's */
};

/* The gateway role (gateway_config.c, docs/gateway.md); all off in the
 * workspace role.  Durations in seconds. */
struct ws_gateway_config {
	int enabled;              /* role = gateway */
	char *users_dir;          /* DIR/USER: a user's authorized_keys lines */
	char *keys_command;       /* or CMD USER prints them */
	char *keys_socket;        /* or GET /v1/keys?user=USER on this Unix socket */
	char *suffix;             /* ".ws"; NULL = the default */
	char *grants;             /* "USER NAME" lines; NULL = none */
	int create;               /* WS_GW_CREATE_*: which unknown owned names a jump creates */
	char *user_limits;        /* "USER create=... max=N" lines; NULL = none */
	unsigned int max_per_user;
	unsigned int idle_stop;   /* 0 = off */
	unsigned int wake_timeout;
	char *backend;            /* the backend program (command protocol) */
	char *state_dir;          /* locks, stop reasons, host keys, key files */
	char *program;            /* ws-gateway; NULL = the installed one */
	char *host;               /* the gateway's name for ProxyJump; NULL = hostname */
	char *workspace_user;     /* the workspaces' login name, for config; NULL = developer */
};

struct ws_config {
	enum ws_event_log_kind event_log;
	char *event_log_path;     /* WS_EVENT_LOG_FILE only */
	int log_commands;         /* put the command text in session_start events */
	struct ws_env_config env;
	struct ws_agent_config agent;
	char *activity_dir;       /* activity records (activity.c); NULL = off */
	unsigned int activity_interval; /* seconds between a record's rewrites */
	struct ws_gateway_config gateway;
};

/* Defaults that the features apply themselves while the key is unset (the
 * field NULL), so that a config never has to allocate them. */
#define WS_ENV_SOCKET_URL_DEFAULT "/v1/env?user=%u&session=%s"
/* GIT_PROTOCOL: git over ssh asks for protocol v2 through it; refusing it
 * silently drops git to protocol v0.  Its value is held to what git sends
 * (client_value_rules in envlist.c). */
#define WS_CLIENT_ENV_ALLOW_DEFAULT "LANG LC_* TERM COLORTERM TZ GIT_PROTOCOL"

/* Sets the defaults. */
void ws_config_init(struct ws_config *cfg);

/* Reads `path` over the defaults.  Returns 0, or -1 with a one-line reason
 * ("FILE:LINE: ...") in err.  On error cfg holds the defaults again. */
int ws_config_load(struct ws_config *cfg, const char *path, char *err, size_t errlen);

/* Same, from text in memory (what ws_config_load reads); `name` is used in
 * error messages. */
int ws_config_parse(struct ws_config *cfg, const char *name, const char *text,
	size_t len, char *err, size_t errlen);

void ws_config_free(struct ws_config *cfg);

/* For a key's setter: replaces *slot (freed) with a copy of value.  0, or
 * -1 with "out of memory" in why. */
int ws_config_set_string(char **slot, const char *value, char *why, size_t whylen);

struct ws_config_unit {
	const char *suffix;
	unsigned long factor;
};

/* For a key's setter: a decimal number followed by one of `units` (a list
 * ending in a NULL suffix), times that unit's factor, into *out.  0, or -1
 * (no digit first, no such unit, or too large). */
int ws_config_parse_scaled(const char *value, const struct ws_config_unit *units,
	unsigned long *out);

/* The keys, one row each (config.c): what the parser accepts, each key's
 * default and its range.  Exported read-only so that a test holds
 * docs/hook-config.md to them. */
enum ws_config_kind {
	WS_CONFIG_BOOL,     /* int */
	WS_CONFIG_PATH,     /* char *, an absolute path */
	WS_CONFIG_DURATION, /* unsigned int, ms */
	WS_CONFIG_SIZE,     /* unsigned int, bytes */
	WS_CONFIG_COUNT,    /* unsigned int */
	WS_CONFIG_CUSTOM,   /* its own setter */
};

struct ws_config_key {
	const char *name;
	enum ws_config_kind kind;
	size_t offset;
	unsigned long min, max;   /* numeric kinds: the accepted range */
	int (*set)(struct ws_config *cfg, const char *value, char *why, size_t whylen);
	const char *def;          /* the default as a config file writes it,
	                             which ws_config_init() sets; NULL if the
	                             field stays unset (see `shown`) */
	const char *shown;        /* an unset default as the documentation shows
	                             it: "off", or what the feature uses */
};

const struct ws_config_key *ws_config_keys(size_t *count);

/* A user name that is safe as one path component: not empty, no '/', no
 * leading '.', at most 255 bytes. */
int ws_user_name_safe(const char *user);

/* A configured path with every "%u" replaced by the user name (the only
 * expansion paths have).  0, or -1 if the name is not safe or out[] is too
 * small. */
int ws_expand_user_path(const char *pattern, const char *user, char *out, size_t outlen);

#endif
