/*
 * fuzz_config.c - ws_config_parse: the hook library's config file.
 * Input: the file's text.  A config that parses holds only values the
 * table allows; one that does not leaves the defaults and says why.
 */
#include <string.h>

#include "config.h"
#include "fuzz.h"

static void check_path(const char *path) {
	char expanded[512];
	if (path == NULL) {
		return;
	}
	FUZZ_ASSERT(path[0] == '/');
	/* %u expands to a safe name only, and leaves no %u behind */
	if (ws_expand_user_path(path, "developer", expanded, sizeof(expanded)) == 0) {
		FUZZ_ASSERT(strstr(expanded, "%u") == NULL);
	}
	FUZZ_ASSERT(ws_expand_user_path(path, "../x", expanded, sizeof(expanded)) != 0
		|| strstr(path, "%u") == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	struct ws_config cfg, defaults;
	char err[256] = "";

	ws_config_init(&defaults);
	ws_config_init(&cfg);
	if (ws_config_parse(&cfg, "fuzz.conf", (const char *)data, size, err, sizeof(err)) == 0) {
		const struct ws_env_config *env = &cfg.env;
		check_path(env->dir);
		check_path(env->file);
		check_path(env->command);
		check_path(env->socket);
		check_path(cfg.agent.dir);
		check_path(cfg.agent.workspace_socket);
		check_path(cfg.activity_dir);
		FUZZ_ASSERT(cfg.event_log != WS_EVENT_LOG_FILE || cfg.event_log_path[0] == '/');
		FUZZ_ASSERT(env->socket_url == NULL || env->socket_url[0] == '/');
		FUZZ_ASSERT(env->command_timeout_ms >= 10 && env->command_timeout_ms <= 60000);
		FUZZ_ASSERT(env->socket_timeout_ms >= 10 && env->socket_timeout_ms <= 60000);
		FUZZ_ASSERT(env->output_max >= 1024 && env->output_max <= 4 * 1024 * 1024);
		FUZZ_ASSERT(env->max_vars >= 1 && env->max_vars <= 256);
		FUZZ_ASSERT(env->max_bytes >= 64 && env->max_bytes <= 256 * 1024);
		FUZZ_ASSERT(env->value_max >= 1 && env->value_max <= 256 * 1024);
		FUZZ_ASSERT(cfg.activity_interval >= 1 && cfg.activity_interval <= 3600);
		FUZZ_ASSERT(env->allow_path == 0 || env->allow_path == 1);
	} else {
		/* "fuzz.conf: ..." and nothing of the half-read file kept */
		FUZZ_ASSERT(strncmp(err, "fuzz.conf", 9) == 0);
		FUZZ_ASSERT(memcmp(&cfg, &defaults, sizeof(cfg)) == 0);
	}
	ws_config_free(&cfg);
	return 0;
}
