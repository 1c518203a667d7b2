/*
 * abi_library.c - a hook library for test_abi.py, built by the test with
 * one of:
 *   -DLIB_OLDER    struct_size ends before agent_request: a library built
 *                  before the callbacks appended to ABI 1.  Those callbacks
 *                  are still filled in, and abort(): the server must not
 *                  read past struct_size, so it must never call them.
 *   -DLIB_CONTROL  the full struct; the newer callbacks only record that
 *                  they ran (shows that the test's session reaches them).
 *   -DLIB_NEWER    struct_size covers a callback this server does not know
 *                  yet: a library built against a later header.
 * Every callback appends its name to RECORD (a path given with -D), one
 * line each, so the test sees what the server called.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ws_hook.h"

static void record(const char *what) {
	int fd = open(RECORD, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		/* one write per line: O_APPEND keeps lines of two processes whole */
		char line[64];
		size_t n = strlen(what);
		memcpy(line, what, n);
		line[n] = '\n';
		if (write(fd, line, n + 1) < 0) {
			/* nothing to do: the test sees the line missing */
		}
		close(fd);
	}
}

/* What a callback appended after this library's struct_size does. */
static void newer(const char *what) {
	record(what);
#ifdef LIB_OLDER
	abort();
#endif
}

static int startup(void **ctx, const char *config_path, int is_listener, char *err,
		size_t errlen) {
	(void)config_path, (void)is_listener, (void)err, (void)errlen;
	*ctx = NULL;
	record("startup");
	return WS_HOOK_OK;
}

static void on_connect(void *ctx, const struct ws_conn *c) {
	(void)ctx, (void)c;
	record("connect");
}

static void on_auth_success(void *ctx, const struct ws_conn *c) {
	(void)ctx, (void)c;
	record("auth_success");
}

static int on_client_env(void *ctx, const struct ws_session *s, const char *name,
		const char *value) {
	(void)ctx, (void)s, (void)name, (void)value;
	record("client_env");
	return WS_HOOK_ACCEPT;
}

static int on_session_env(void *ctx, const struct ws_session *s, ws_env_set_fn set,
		void *env_ctx) {
	(void)ctx, (void)s;
	record("session_env");
	return set(env_ctx, "WS_ABI_LIBRARY", "loaded") == WS_HOOK_OK ? WS_HOOK_OK : WS_HOOK_FAIL;
}

static void on_session_start(void *ctx, const struct ws_session *s, long pid) {
	(void)ctx, (void)s, (void)pid;
	record("session_start");
}

static void on_agent_socket(void *ctx, const struct ws_session *s, const char *path, int opened) {
	(void)ctx, (void)s, (void)path;
	record(opened ? "agent_socket_opened" : "agent_socket_closed");
}

static void on_session_exit(void *ctx, const struct ws_session *s, const struct ws_exit *e) {
	(void)ctx, (void)s, (void)e;
	record("session_exit");
}

static void on_disconnect(void *ctx, const struct ws_conn *c, const char *reason) {
	(void)ctx, (void)c, (void)reason;
	record("disconnect");
}

static void on_shutdown(void *ctx) {
	(void)ctx;
	record("shutdown");
}

static int on_agent_request(void *ctx, const struct ws_session *s) {
	(void)ctx, (void)s;
	newer("agent_request");
	return WS_HOOK_ACCEPT;
}

static const char *on_agent_env_path(void *ctx, const struct ws_session *s, int allows) {
	(void)ctx, (void)s, (void)allows;
	newer("agent_env_path");
	return NULL;
}

static void on_activity(void *ctx, const struct ws_conn *c, const struct ws_activity *a) {
	(void)ctx, (void)c, (void)a;
	newer("activity");
}

static void on_client_env_refused(void *ctx, const struct ws_session *s, const char *name,
		size_t len, const char *reason) {
	(void)ctx, (void)s, (void)name, (void)len, (void)reason;
	newer("client_env_refused");
}

/* A later header's struct: today's, then a callback appended after it. */
static const struct later_hooks {
	struct ws_hooks known;
	void (*future)(void *ctx);
} hooks = {
	.known = {
		.abi_version = WS_HOOK_ABI_VERSION,
#if defined(LIB_OLDER)
		.struct_size = offsetof(struct ws_hooks, agent_request),
#elif defined(LIB_NEWER)
		.struct_size = sizeof(struct later_hooks),
#else
		.struct_size = sizeof(struct ws_hooks),
#endif
		.name = "abi-test",
		.startup = startup,
		.connect = on_connect,
		.auth_success = on_auth_success,
		.client_env = on_client_env,
		.session_env = on_session_env,
		.session_start = on_session_start,
		.agent_socket = on_agent_socket,
		.session_exit = on_session_exit,
		.disconnect = on_disconnect,
		.shutdown = on_shutdown,
		.agent_request = on_agent_request,
		.agent_env_path = on_agent_env_path,
		.activity = on_activity,
		.client_env_refused = on_client_env_refused,
	},
	.future = NULL,
};

WS_HOOK_EXPORT const struct ws_hooks *ws_hook_entry(void) {
	return &hooks.known;
}
