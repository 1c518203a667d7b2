/*
 * fuzz_env.h - the environment rules (envlist.h) as the fuzz targets check
 * them, written apart from envlist.c so that a bug there is not copied here.
 */
#ifndef WS_FUZZ_ENV_H
#define WS_FUZZ_ENV_H

#include <string.h>

#include "config.h"
#include "envlist.h"
#include "envparse.h"
#include "fuzz.h"

/* Settings from one input byte: small caps, so inputs reach them. */
static inline struct ws_env_config fuzz_env_config(unsigned int choice) {
	struct ws_config cfg;
	ws_config_init(&cfg);
	cfg.env.max_vars = 1 + (choice & 7);
	cfg.env.value_max = (choice & 8) ? 16 : 32 * 1024;
	cfg.env.max_bytes = (choice & 16) ? 64 : 128 * 1024;
	cfg.env.allow_path = (choice & 32) != 0;
	return cfg.env;
}

/* [A-Za-z_][A-Za-z0-9_]*, 1 to 255 bytes; name need not be NUL-terminated. */
static inline int fuzz_name_syntax_ok(const char *name, size_t len) {
	size_t i;
	if (len == 0 || len > 255 || (name[0] >= '0' && name[0] <= '9')) {
		return 0;
	}
	for (i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
				|| c == '_')) {
			return 0;
		}
	}
	return 1;
}

static inline int fuzz_name_ok(const char *name, const struct ws_env_config *cfg) {
	size_t len = strlen(name), i;
	if (!fuzz_name_syntax_ok(name, len)) {
		return 0;
	}
	if (strncmp(name, "LD_", 3) == 0 || strncmp(name, "SSH_", 4) == 0
			|| (strcmp(name, "PATH") == 0 && !cfg->allow_path)) {
		return 0;
	}
	{
		/* who the user is; what the loader or a shell runs code from */
		static const char *const exact[] = { "HOME", "USER", "LOGNAME", "SHELL",
			"GLIBC_TUNABLES", "GCONV_PATH", "LOCPATH", "NLSPATH", "BASH_ENV", "ENV",
			"SHELLOPTS", "BASHOPTS", "PS0", "PS1", "PS2", "PS3", "PS4",
			"PROMPT_COMMAND", "IFS" };
		for (i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
			if (strcmp(name, exact[i]) == 0) {
				return 0;
			}
		}
	}
	return 1;
}

/* Whatever was put, a list holds only what the rules allow, within caps. */
static inline void fuzz_check_envlist(const struct ws_envlist *list,
		const struct ws_env_config *cfg) {
	size_t bytes = 0;
	unsigned int i, j;

	FUZZ_ASSERT(list->count <= cfg->max_vars);
	for (i = 0; i < list->count; i++) {
		const char *name = list->vars[i].name, *value = list->vars[i].value;
		FUZZ_ASSERT(fuzz_name_ok(name, cfg));
		FUZZ_ASSERT(strlen(value) <= cfg->value_max);
		for (j = 0; j < i; j++) {
			FUZZ_ASSERT(strcmp(list->vars[j].name, name) != 0);
		}
		bytes += strlen(name) + 1 + strlen(value);
	}
	FUZZ_ASSERT(bytes == list->bytes && bytes <= cfg->max_bytes);
	FUZZ_ASSERT(memchr(list->rejected_names, '\0', sizeof(list->rejected_names)) != NULL);
}

/* A parser's emit callback: what it hands over lies within the input, its
 * name is a valid one (an invalid name fails the parse), and it goes
 * through the rules like a real source's (ws_envsrc_put). */
struct fuzz_env_sink {
	struct ws_envlist list;
	struct ws_env_config cfg;
	size_t input_len;
	unsigned int emitted;
};

static inline void fuzz_env_emit(void *ctx, const char *name, size_t nlen, const char *value,
		size_t vlen) {
	struct fuzz_env_sink *sink = ctx;
	FUZZ_ASSERT(nlen <= sink->input_len && vlen <= sink->input_len);
	FUZZ_ASSERT(fuzz_name_syntax_ok(name, nlen));
	sink->emitted++;
	ws_envlist_put(&sink->list, &sink->cfg, name, nlen, value, vlen);
}

typedef int (*fuzz_env_parser)(const char *text, size_t len, ws_env_emit_fn emit, void *ctx,
	char *err, size_t errlen);

/* Runs a parser on the input (its first byte picks the caps) and checks
 * the list it fills; a failure must say why, in printable ASCII: errors
 * quote nothing of the input but a valid name, never a raw byte. */
static inline void fuzz_env_parse(fuzz_env_parser parse, const uint8_t *data, size_t size) {
	struct fuzz_env_sink sink;
	char err[256] = "";

	if (size == 0) {
		return;
	}
	ws_envlist_init(&sink.list);
	sink.cfg = fuzz_env_config(data[0]);
	sink.input_len = size - 1;
	sink.emitted = 0;
	if (parse((const char *)data + 1, size - 1, fuzz_env_emit, &sink, err, sizeof(err)) != 0) {
		const char *e;
		FUZZ_ASSERT(err[0] != '\0');
		for (e = err; *e != '\0'; e++) {
			FUZZ_ASSERT(*e >= 0x20 && *e < 0x7f);
		}
	}
	fuzz_check_envlist(&sink.list, &sink.cfg);
	FUZZ_ASSERT(sink.list.taken + sink.list.rejected == sink.emitted);
	ws_envlist_free(&sink.list);
}

#endif
