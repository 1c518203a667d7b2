/*
 * envlist.c - the environment rules shared by every source (see envlist.h).
 */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include "envlist.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 255

const char *ws_env_verdict_text(enum ws_env_verdict v) {
	static const char *const text[] = {
		[WS_ENV_OK] = "ok",
		[WS_ENV_BAD_NAME] = "invalid name",
		[WS_ENV_DENIED] = "denied name",
		[WS_ENV_NUL] = "NUL byte in value",
		[WS_ENV_TOO_LONG] = "value too long",
		[WS_ENV_TOO_MANY] = "too many variables",
		[WS_ENV_TOO_BIG] = "environment too large",
		[WS_ENV_NO_MEMORY] = "out of memory",
	};
	return text[v];
}

static int is_name_start(char c) {
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

int ws_env_name_valid(const char *name, size_t len) {
	size_t i;
	if (len == 0 || len > NAME_MAX_LEN || !is_name_start(name[0])) {
		return 0;
	}
	for (i = 1; i < len; i++) {
		if (!is_name_start(name[i]) && !(name[i] >= '0' && name[i] <= '9')) {
			return 0;
		}
	}
	return 1;
}

/* The one denylist: names no source and no client may set, whatever
 * env_*, client_env_allow or client_env_forced_command say.  Each is either
 * who the user is (the server sets it; a source or client that could change
 * it could pose as someone else) or something a shell or the dynamic loader
 * acts on by running code or loading it before the session's command:
 * accepted, it would turn "set a variable" into "run a program", which a key
 * with a forced command must never get. */
static const struct {
	const char *glob;
	int path; /* PATH: allowed with env_allow_path */
} denied[] = {
	/* who the user is and where the session runs */
	{ "HOME", 0 }, { "USER", 0 }, { "LOGNAME", 0 }, { "SHELL", 0 },
	{ "SSH_*", 0 },            /* the server's own: connection, agent socket */
	{ "PATH", 1 },             /* which program a bare name runs */
	/* the dynamic loader and libc */
	{ "LD_*", 0 },             /* LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT: load code */
	{ "GLIBC_TUNABLES", 0 },   /* parsed by the loader in every process */
	{ "GCONV_PATH", 0 },       /* iconv loads modules from it */
	{ "LOCPATH", 0 },          /* locale data parsed by setlocale() */
	{ "NLSPATH", 0 },          /* message catalogs read by catopen() */
	/* the shell: sh -c runs every forced command and login shell */
	{ "BASH_ENV", 0 },         /* a file bash sources before a non-interactive command */
	{ "ENV", 0 },              /* the same for sh/dash (interactive) and bash --posix */
	{ "SHELLOPTS", 0 },        /* turns on xtrace etc. from the environment */
	{ "BASHOPTS", 0 },         /* turns on shopt options (extdebug) the same way */
	{ "PS0", 0 }, { "PS1", 0 }, { "PS2", 0 }, { "PS3", 0 },
	{ "PS4", 0 },              /* expanded with $(...) when xtrace is on */
	{ "PROMPT_COMMAND", 0 },   /* run before each prompt */
	{ "IFS", 0 },              /* changes how every command line is split */
};

int ws_env_name_denied(const struct ws_env_config *cfg, const char *name) {
	size_t i;
	for (i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
		if (fnmatch(denied[i].glob, name, 0) == 0) {
			return !(denied[i].path && cfg->allow_path);
		}
	}
	return 0;
}

enum ws_env_verdict ws_env_name_verdict(const struct ws_env_config *cfg, const char *name,
		size_t len) {
	char nul_terminated[NAME_MAX_LEN + 1];

	if (!ws_env_name_valid(name, len)) {
		return WS_ENV_BAD_NAME;
	}
	memcpy(nul_terminated, name, len);
	nul_terminated[len] = '\0';
	return ws_env_name_denied(cfg, nul_terminated) ? WS_ENV_DENIED : WS_ENV_OK;
}

int ws_env_client_allowed(const char *globs, const char *name) {
	char glob[256];
	const char *p = globs ? globs : WS_CLIENT_ENV_ALLOW_DEFAULT;

	while (*p != '\0') {
		size_t n = strcspn(p, " \t");
		if (n > 0 && n < sizeof(glob)) {
			memcpy(glob, p, n);
			glob[n] = '\0';
			if (fnmatch(glob, name, 0) == 0) {
				return 1;
			}
		}
		p += n;
		p += strspn(p, " \t");
	}
	return 0;
}

/* git sends "version=2" today: room for a few more parameters, no more */
#define GIT_PROTOCOL_MAX 128
#define STR_(x) #x
#define STR(x) STR_(x)

/* Names whose value a client may send only in a narrow form, whichever
 * client_env_allow glob let the name in: the program that reads the
 * variable parses it.  git fills GIT_PROTOCOL with colon-separated "key"
 * or "key=value" parameters ("version=2") for git-upload-pack and
 * git-receive-pack; a value beyond that charset did not come from git. */
static const struct client_value_rule {
	const char *name;
	const char *punct;   /* allowed besides ASCII letters and digits */
	size_t max_len;
	const char *bad_char, *too_long; /* the refusal's reason */
} client_value_rules[] = {
	{ "GIT_PROTOCOL", "._=:-", GIT_PROTOCOL_MAX,
	  "value has a character outside [A-Za-z0-9._=:-]",
	  "value longer than " STR(GIT_PROTOCOL_MAX) " bytes" },
};

static int is_ascii_alnum(char c) {
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

const char *ws_env_client_value_refusal(const char *name, const char *value) {
	size_t i, len = strlen(value);

	for (i = 0; i < sizeof(client_value_rules) / sizeof(client_value_rules[0]); i++) {
		const struct client_value_rule *r = &client_value_rules[i];
		const char *c;
		if (strcmp(name, r->name) != 0) {
			continue;
		}
		if (len > r->max_len) {
			return r->too_long;
		}
		for (c = value; *c != '\0'; c++) {
			if (!is_ascii_alnum(*c) && strchr(r->punct, *c) == NULL) {
				return r->bad_char;
			}
		}
	}
	return NULL;
}

void ws_envlist_init(struct ws_envlist *list) {
	memset(list, 0, sizeof(*list));
}

void ws_envlist_free(struct ws_envlist *list) {
	unsigned int i;
	for (i = 0; i < list->count; i++) {
		free(list->vars[i].name);
		/* values are secrets: do not leave them in freed heap memory */
		explicit_bzero(list->vars[i].value, strlen(list->vars[i].value));
		free(list->vars[i].value);
	}
	free(list->vars);
	ws_envlist_init(list);
}

const char *ws_env_name_for_log(const char *name, size_t len, char *out, size_t outlen) {
	size_t i, n = 0, shown = len > WS_ENV_NAME_LOGGED ? WS_ENV_NAME_LOGGED : len;

	for (i = 0; i < shown && n + 5 < outlen; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c > 0x20 && c < 0x7f && c != '\\') {
			out[n++] = (char)c;
		} else {
			n += (size_t)snprintf(out + n, outlen - n, "\\x%02x", c);
		}
	}
	if (i < len && n + 4 <= outlen) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n < outlen ? n : outlen - 1] = '\0';
	return out;
}

void ws_envlist_reject(struct ws_envlist *list, const char *name, size_t nlen,
		enum ws_env_verdict v) {
	size_t used = strlen(list->rejected_names), room = sizeof(list->rejected_names) - used;
	char shown[WS_ENV_NAME_LOG_SIZE];

	list->rejected++;
	if (room > 1) {
		snprintf(list->rejected_names + used, room, "%s%s (%s)", used ? ", " : "",
			ws_env_name_for_log(name, nlen, shown, sizeof(shown)), ws_env_verdict_text(v));
	}
}

static enum ws_env_verdict check(const struct ws_envlist *list, const struct ws_env_config *cfg,
		const char *name, size_t nlen, const char *value, size_t vlen, unsigned int *slot) {
	enum ws_env_verdict v = ws_env_name_verdict(cfg, name, nlen);
	size_t old_bytes = 0;
	unsigned int i;

	if (v != WS_ENV_OK) {
		return v;
	}
	if (memchr(value, '\0', vlen) != NULL) {
		return WS_ENV_NUL;
	}
	if (vlen > cfg->value_max) {
		return WS_ENV_TOO_LONG;
	}
	for (i = 0; i < list->count; i++) {
		if (strncmp(list->vars[i].name, name, nlen) == 0 && list->vars[i].name[nlen] == '\0') {
			old_bytes = nlen + 1 + strlen(list->vars[i].value);
			break;
		}
	}
	*slot = i;
	if (i == list->count && list->count >= cfg->max_vars) {
		return WS_ENV_TOO_MANY;
	}
	if (list->bytes - old_bytes + nlen + 1 + vlen > cfg->max_bytes) {
		return WS_ENV_TOO_BIG;
	}
	return WS_ENV_OK;
}

static char *copy_bytes(const char *s, size_t n) {
	char *out = malloc(n + 1);
	if (out != NULL) {
		memcpy(out, s, n);
		out[n] = '\0';
	}
	return out;
}

enum ws_env_verdict ws_envlist_put(struct ws_envlist *list, const struct ws_env_config *cfg,
		const char *name, size_t nlen, const char *value, size_t vlen) {
	unsigned int slot = 0;
	enum ws_env_verdict v = check(list, cfg, name, nlen, value, vlen, &slot);
	char *copy;

	if (v == WS_ENV_OK && (copy = copy_bytes(value, vlen)) != NULL) {
		if (slot < list->count) {
			list->bytes -= strlen(list->vars[slot].value);
			explicit_bzero(list->vars[slot].value, strlen(list->vars[slot].value));
			free(list->vars[slot].value);
			list->vars[slot].value = copy;
			list->bytes += vlen;
			list->taken++;
			return WS_ENV_OK;
		}
		struct ws_env_var *grown = realloc(list->vars, sizeof(*grown) * (list->count + 1));
		char *name_copy = copy_bytes(name, nlen);
		if (grown != NULL && name_copy != NULL) {
			list->vars = grown;
			list->vars[list->count].name = name_copy;
			list->vars[list->count].value = copy;
			list->count++;
			list->bytes += nlen + 1 + vlen;
			list->taken++;
			return WS_ENV_OK;
		}
		if (grown != NULL) {
			list->vars = grown;
		}
		free(name_copy);
		free(copy);
		v = WS_ENV_NO_MEMORY;
	} else if (v == WS_ENV_OK) {
		v = WS_ENV_NO_MEMORY;
	}
	ws_envlist_reject(list, name, nlen, v);
	return v;
}

int ws_envlist_copy(struct ws_envlist *dst, const struct ws_envlist *src) {
	unsigned int i;

	ws_envlist_free(dst);
	if (src->count == 0) {
		return 0;
	}
	dst->vars = calloc(src->count, sizeof(*dst->vars));
	if (dst->vars == NULL) {
		return -1;
	}
	for (i = 0; i < src->count; i++) {
		dst->vars[i].name = strdup(src->vars[i].name);
		dst->vars[i].value = strdup(src->vars[i].value);
		dst->count = i + 1;
		if (dst->vars[i].name == NULL || dst->vars[i].value == NULL) {
			free(dst->vars[i].name);
			free(dst->vars[i].value);
			dst->count = i;
			ws_envlist_free(dst);
			return -1;
		}
	}
	dst->bytes = src->bytes;
	return 0;
}

const char *ws_envlist_get(const struct ws_envlist *list, const char *name) {
	unsigned int i;
	for (i = 0; i < list->count; i++) {
		if (strcmp(list->vars[i].name, name) == 0) {
			return list->vars[i].value;
		}
	}
	return NULL;
}
