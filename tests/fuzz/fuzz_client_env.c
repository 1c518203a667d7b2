/*
 * fuzz_client_env.c - client "env" requests (SendEnv/SetEnv): the
 * client_env_allow setting as the config reads it, then ws_env_client on
 * each request, as the server calls it for a session.
 * Input: one byte that picks the caps (fuzz_env_config), then fields
 * separated by FUZZ_SEP: client_env_allow's value, then name, value,
 * name, value...  A request is accepted only when its name is valid, not
 * denied and allowed, its value within env_value_max (and, for
 * GIT_PROTOCOL, of [A-Za-z0-9._=:-] and at most 128 bytes), and
 * env_max_vars requests are not yet accepted, and the key has no forced
 * command or restrict (bit 7 of the first byte) unless
 * client_env_forced_command (bit 6) says yes.  Each name is also handed
 * with its raw bytes (NULs included) to the path that logs the server's
 * own refusals, which escapes and cuts it.
 */
#include <fnmatch.h>
#include <string.h>

#include "config.h"
#include "fuzz_env.h"
#include "plugin.h"

/* Does one glob of the blank-separated list match?  (An independent
 * reading of ws_env_client_allowed.) */
static int allowed(const char *globs, const char *name) {
	char copy[4200], *glob, *save = NULL;
	if (globs == NULL) {
		globs = "LANG LC_* TERM COLORTERM TZ GIT_PROTOCOL";
	}
	snprintf(copy, sizeof(copy), "%s", globs);
	for (glob = strtok_r(copy, " \t", &save); glob != NULL; glob = strtok_r(NULL, " \t", &save)) {
		if (strlen(glob) < 256 && fnmatch(glob, name, 0) == 0) {
			return 1;
		}
	}
	return 0;
}

/* A value git itself could send as GIT_PROTOCOL. */
static int git_protocol_value(const char *value) {
	return strlen(value) <= 128 && strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		"abcdefghijklmnopqrstuvwxyz0123456789._=:-") == strlen(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	struct fuzz_input in = { data, size };
	unsigned int choice = fuzz_byte(&in);
	struct ws_plugin p;
	struct ws_conn conn = { sizeof(conn), "0123456789abcdef", "127.0.0.1", "50000",
		"developer", "publickey", "SHA256:x", 1 };
	struct ws_session s = { sizeof(s), &conn, 0, "shell", NULL, "xterm",
		(choice & 128) ? WS_KEY_FORCED_COMMAND : 0 };
	const uint8_t *field, *vfield;
	size_t len, vlen;
	char err[256];

	memset(&p, 0, sizeof(p));
	ws_config_init(&p.cfg);
	p.log.fd = -1; /* events are formatted, not written */
	if (fuzz_field(&in, &field, &len)) {
		/* the setting as a config line sets it: quoted, so blanks stay */
		char *value = fuzz_cstring(field, len), line[4200];
		snprintf(line, sizeof(line), "client_env_allow = \"%s\"\n", value);
		free(value);
		ws_config_parse(&p.cfg, "fuzz.conf", line, strlen(line), err, sizeof(err));
	}
	p.cfg.env.max_vars = fuzz_env_config(choice).max_vars;
	p.cfg.env.value_max = fuzz_env_config(choice).value_max;
	p.cfg.env.client_forced_command = (choice & 64) != 0;
	while (fuzz_field(&in, &field, &len)) {
		char *name = fuzz_cstring(field, len), *value;
		unsigned int before = p.client_env_accepted;
		int accepted;

		if (!fuzz_field(&in, &vfield, &vlen)) {
			vfield = (const uint8_t *)"";
			vlen = 0;
		}
		value = fuzz_cstring(vfield, vlen);
		/* the server refuses names and values with NUL bytes itself */
		if (strlen(name) == len && strlen(value) == vlen) {
			accepted = ws_env_client(&p, &s, name, value);
			FUZZ_ASSERT(accepted == 0 || accepted == 1);
			FUZZ_ASSERT(p.client_env_accepted == before + (unsigned int)accepted);
			if (accepted) {
				FUZZ_ASSERT(fuzz_name_ok(name, &p.cfg.env));
				FUZZ_ASSERT(allowed(p.cfg.env.client_allow, name));
				FUZZ_ASSERT(vlen <= p.cfg.env.value_max);
				FUZZ_ASSERT(strcmp(name, "GIT_PROTOCOL") != 0 || git_protocol_value(value));
				FUZZ_ASSERT(p.client_env_accepted <= p.cfg.env.max_vars);
				FUZZ_ASSERT(s.key_options == 0 || p.cfg.env.client_forced_command);
			}
		}
		ws_env_client_refused_by_server(&p, &s, (const char *)field, len, "invalid name");
		free(name);
		free(value);
	}
	ws_config_free(&p.cfg);
	return 0;
}
