/*
 * fuzz_envdir.c - env_dir's names and values: each file of the directory
 * becomes NAME=CONTENT through the calls read_dir() in envsrc_files.c
 * makes (a name check before the file is read, one trailing newline
 * dropped, then the rules and caps), and the list is copied from source to
 * source as envfetch.c does.
 * Input: one byte that picks the caps (fuzz_env_config), then fields
 * separated by FUZZ_SEP: name, content, name, content...
 */
#include <string.h>

#include "envlist.h"
#include "fuzz_env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	struct fuzz_input in = { data, size };
	struct ws_env_config cfg = fuzz_env_config(fuzz_byte(&in));
	struct ws_envlist list, copy;
	const uint8_t *name, *value;
	size_t nlen, vlen;

	ws_envlist_init(&list);
	ws_envlist_init(&copy);
	while (fuzz_field(&in, &name, &nlen)) {
		/* a directory entry's name is a C string without '/' */
		char *entry = fuzz_cstring(name, nlen);
		enum ws_env_verdict v;

		if (!fuzz_field(&in, &value, &vlen)) {
			value = (const uint8_t *)"";
			vlen = 0;
		}
		v = ws_env_name_verdict(&cfg, entry, strlen(entry));
		FUZZ_ASSERT((v == WS_ENV_OK) == fuzz_name_ok(entry, &cfg));
		if (v != WS_ENV_OK) {
			ws_envlist_reject(&list, entry, strlen(entry), v);
		} else {
			if (vlen > 0 && value[vlen - 1] == '\n') {
				vlen--;
			}
			v = ws_envlist_put(&list, &cfg, entry, strlen(entry), (const char *)value, vlen);
			if (v == WS_ENV_OK) {
				FUZZ_ASSERT(memchr(value, '\0', vlen) == NULL);
				FUZZ_ASSERT(strlen(ws_envlist_get(&list, entry)) == vlen);
				FUZZ_ASSERT(memcmp(ws_envlist_get(&list, entry), value, vlen) == 0);
			}
		}
		free(entry);
		fuzz_check_envlist(&list, &cfg);
	}
	/* the next source starts from a copy; the original stays as it was */
	FUZZ_ASSERT(ws_envlist_copy(&copy, &list) == 0);
	FUZZ_ASSERT(copy.count == list.count && copy.bytes == list.bytes);
	for (unsigned int i = 0; i < list.count; i++) {
		FUZZ_ASSERT(strcmp(ws_envlist_get(&copy, list.vars[i].name), list.vars[i].value) == 0);
	}
	fuzz_check_envlist(&copy, &cfg);
	ws_envlist_free(&copy);
	ws_envlist_free(&list);
	return 0;
}
