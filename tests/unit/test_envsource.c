/*
 * test_envsource.c - the four environment sources against real files,
 * real helper processes and a real Unix-socket server.
 */
#define _GNU_SOURCE
#include "unit.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "envsources.h"

static const struct ws_env_request req = { "alice", "0123456789abcdef", "127.0.0.1", "SHA256:k/+" };

typedef int (*source_fn)(const struct ws_env_config *, const struct ws_env_request *,
	struct ws_envlist *, char *, size_t);

/* Runs a source; returns "RET|A=1;B=2;|rejected names|error". */
static const char *run_source(source_fn fn, const struct ws_env_config *cfg) {
	static char out[8192];
	struct ws_envlist list;
	char err[512] = "";
	size_t n;
	unsigned int i;
	int ret;

	ws_envlist_init(&list);
	ret = fn(cfg, &req, &list, err, sizeof(err));
	n = (size_t)snprintf(out, sizeof(out), "%d|", ret);
	for (i = 0; i < list.count && n < sizeof(out); i++) {
		n += (size_t)snprintf(out + n, sizeof(out) - n, "%s=%s;", list.vars[i].name,
			list.vars[i].value);
	}
	if (n < sizeof(out)) {
		snprintf(out + n, sizeof(out) - n, "|%s|%s", list.rejected_names, err);
	}
	ws_envlist_free(&list);
	return out;
}

/* Writes file `name` (mode 0755), runs the source, checks its result has `want`. */
#define CHECK_WITH_FILE(name, text, fn, cfg, want) do { \
	unit_write_file(name, text, 0755); \
	CHECK_CONTAINS(run_source(fn, cfg), want); \
} while (0)

static struct ws_env_config env_config(void) {
	struct ws_config cfg;
	ws_config_init(&cfg);
	return cfg.env;
}

static void mkdir_in(const char *name) {
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", unit_tmpdir(), name);
	mkdir(path, 0755);
}

static void symlink_in(const char *target, const char *name) {
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", unit_tmpdir(), name);
	if (symlink(target, path) != 0) {
		printf("    cannot symlink %s\n", path);
	}
}

/* The kubelet's layout: files live in a timestamped directory, ..data
 * points at it, and each visible name points through ..data. */
static void dir_source_kubelet_layout(void) {
	struct ws_env_config cfg = env_config();
	char dir[512];

	mkdir_in("env");
	mkdir_in("env/..2026_11_23_01_00_00.1");
	mkdir_in("env/..2026_11_23_01_00_00.1/alice");
	unit_write_file("env/..2026_11_23_01_00_00.1/GIT_AUTHOR_NAME", "Global Name\n", 0644);
	unit_write_file("env/..2026_11_23_01_00_00.1/TOKEN", "two newlines\n\n", 0644);
	unit_write_file("env/..2026_11_23_01_00_00.1/LD_PRELOAD", "/evil.so", 0644);
	unit_write_file("env/..2026_11_23_01_00_00.1/bad-name", "x", 0644);
	unit_write_file("env/..2026_11_23_01_00_00.1/alice/GIT_AUTHOR_NAME", "Alice", 0644);
	unit_write_file("env/.hidden", "no", 0644);
	symlink_in("..2026_11_23_01_00_00.1", "env/..data");
	symlink_in("..data/GIT_AUTHOR_NAME", "env/GIT_AUTHOR_NAME");
	symlink_in("..data/TOKEN", "env/TOKEN");
	symlink_in("..data/LD_PRELOAD", "env/LD_PRELOAD");
	symlink_in("..data/bad-name", "env/bad-name");
	symlink_in("..data/alice", "env/alice");
	symlink_in("..data/missing", "env/DANGLING");
	snprintf(dir, sizeof(dir), "%s/env", unit_tmpdir());
	cfg.dir = dir;
	CHECK_STR(run_source(ws_envsrc_dir, &cfg),
		"0|GIT_AUTHOR_NAME=Alice;TOKEN=two newlines\n;"
		"|LD_PRELOAD (denied name), bad-name (invalid name)|");

	cfg.value_max = 4;
	CHECK_STR(run_source(ws_envsrc_dir, &cfg),
		"0||GIT_AUTHOR_NAME (value too long), LD_PRELOAD (denied name), "
		"TOKEN (value too long), bad-name (invalid name), GIT_AUTHOR_NAME (value too long)|");

	snprintf(dir, sizeof(dir), "%s/nonexistent", unit_tmpdir());
	CHECK_CONTAINS(run_source(ws_envsrc_dir, &cfg), "-1|||");
	CHECK_CONTAINS(run_source(ws_envsrc_dir, &cfg), "/nonexistent: No such file or directory");
}

static void file_source(void) {
	struct ws_env_config cfg = env_config();
	char path[512];

	unit_write_file("alice.env", "export A='1'\nB=2\n", 0644);
	snprintf(path, sizeof(path), "%s/%%u.env", unit_tmpdir());
	cfg.file = path;
	CHECK_STR(run_source(ws_envsrc_file, &cfg), "0|A=1;B=2;||");

	CHECK_WITH_FILE("alice.env", "A=1\nB='unterminated\n", ws_envsrc_file, &cfg,
		"alice.env: line 2: unterminated single quote");

	cfg.output_max = 8;
	CHECK_WITH_FILE("alice.env", "A=1\nB=2345678\n", ws_envsrc_file, &cfg,
		"alice.env: larger than 8 bytes");

	/* a per-user file may be missing; the one shared file may not */
	snprintf(path, sizeof(path), "%s/%%u.missing", unit_tmpdir());
	CHECK_CONTAINS(run_source(ws_envsrc_file, &cfg), "1|||");
	snprintf(path, sizeof(path), "%s/all.missing", unit_tmpdir());
	CHECK_CONTAINS(run_source(ws_envsrc_file, &cfg), "-1|||");
}

static long elapsed_ms(const struct timespec *t0) {
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

static void command_source(void) {
	struct ws_env_config cfg = env_config();
	struct timespec t0;
	char path[512];

	snprintf(path, sizeof(path), "%s", unit_write_file("helper",
		"#!/bin/sh\n"
		"case \"$1\" in\n"
		"alice) printf 'WHO=%s|%s|%s|%s\\nPATHS=%s\\n' \"$1\" \"$2\" \"$3\" \"$4\" \"$PATH\" ;;\n"
		"esac\n"
		"case \"$HELPER_MODE\" in '') ;; *) echo leaked ;; esac\n", 0755));
	cfg.command = path;
	setenv("HELPER_MODE", "x", 1); /* the server's own environment must not reach it */
	CHECK_STR(run_source(ws_envsrc_command, &cfg),
		"0|WHO=alice|0123456789abcdef|127.0.0.1|SHA256:k/+;PATHS=/usr/local/bin:/usr/bin:/bin;||");
	unsetenv("HELPER_MODE");

	unit_write_file("helper", "#!/bin/sh\necho A=1\nexit 3\n", 0755);
	CHECK_CONTAINS(run_source(ws_envsrc_command, &cfg), "-1|||");
	CHECK_CONTAINS(run_source(ws_envsrc_command, &cfg), "/helper: exited with status 3");
	CHECK_WITH_FILE("helper", "#!/bin/sh\necho 'this is not KEY=VALUE'\necho plain garbage\n",
		ws_envsrc_command, &cfg, "helper: output line 1: invalid variable name");
	CHECK_WITH_FILE("helper", "#!/bin/sh\nkill -9 $$\n", ws_envsrc_command, &cfg,
		"helper: killed by signal 9");

	cfg.output_max = 1024;
	CHECK_WITH_FILE("helper", "#!/bin/sh\nwhile :; do echo A=0123456789; done\n",
		ws_envsrc_command, &cfg, "helper: output larger than 1024 bytes; killed");

	/* hangs, and a child of it holds stdout open: both end at the timeout */
	cfg.command_timeout_ms = 300;
	unit_write_file("helper", "#!/bin/sh\necho A=1\nsleep 30 &\nsleep 30\n", 0755);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_CONTAINS(run_source(ws_envsrc_command, &cfg), "-1|||");
	CHECK_CONTAINS(run_source(ws_envsrc_command, &cfg), "helper: timed out after 300 ms; killed");
	CHECK(elapsed_ms(&t0) < 2 * 300 + 1000);
	/* exits at once but leaves a child holding stdout */
	unit_write_file("helper", "#!/bin/sh\necho A=1\nsleep 30 &\n", 0755);
	CHECK_CONTAINS(run_source(ws_envsrc_command, &cfg), "timed out after 300 ms");
}

/* A one-connection-at-a-time HTTP server in a child process; it answers
 * `n` requests with `response` (after `delay_ms`), writing each request
 * line to unit_tmpdir()/requests. */
static pid_t serve(const char *sock_path, const char *response, int delay_ms, int n) {
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	pid_t pid;
	char log_path[512];

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	snprintf(log_path, sizeof(log_path), "%s/requests", unit_tmpdir());
	unlink(sock_path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 8) != 0) {
		printf("    cannot listen on %s\n", sock_path);
	}
	pid = fork();
	if (pid == 0) {
		while (n-- > 0) {
			char req_buf[4096];
			ssize_t got;
			int c = accept(fd, NULL, NULL);
			FILE *log = fopen(log_path, "a");
			if (c < 0) {
				_exit(1);
			}
			got = read(c, req_buf, sizeof(req_buf) - 1);
			req_buf[got > 0 ? got : 0] = '\0';
			if (log != NULL) {
				fprintf(log, "%.*s\n", (int)strcspn(req_buf, "\r"), req_buf);
				fclose(log);
			}
			usleep((useconds_t)delay_ms * 1000);
			if (write(c, response, strlen(response)) < 0) {
				_exit(1);
			}
			close(c);
		}
		_exit(0);
	}
	close(fd);
	return pid;
}

static void stop(pid_t pid) {
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void socket_source(void) {
	static const struct {
		const char *response;
		int delay_ms;
		const char *error;
	} failures[] = {
		{ "HTTP/1.0 500 Oops\r\n\r\n", 0, "env.sock: HTTP status 500" },
		{ "HTTP/1.0 200 OK\r\n\r\n{\"A\": not json}", 0, "env.sock: the value of \"A\" is not a string" },
		{ "garbage\r\n\r\n", 0, "env.sock: not an HTTP response" },
		{ "HTTP/1.0 200 OK\r\nContent-Length: 50\r\n\r\n{}", 0, "body shorter than its Content-Length" },
		{ "HTTP/1.0 200 OK\r\n\r\n{}", 2000, "env.sock: response timed out after 500 ms" },
	};
	struct ws_env_config cfg = env_config();
	char sock[512];
	pid_t server;
	size_t i;

	snprintf(sock, sizeof(sock), "%s/env.sock", unit_tmpdir());
	cfg.socket = sock;
	cfg.socket_timeout_ms = 500;
	server = serve(sock, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		"Content-Length: 22\r\n\r\n{\"A\":\"1\",\"SSH_X\":\"2\"}\ntrailing", 0, 1);
	CHECK_STR(run_source(ws_envsrc_socket, &cfg), "0|A=1;|SSH_X (denied name)|");
	stop(server);
	CHECK_CONTAINS(unit_read_file(strcat(strcpy(sock + 256, unit_tmpdir()), "/requests")),
		"GET /v1/env?user=alice&session=0123456789abcdef HTTP/1.0\n");

	cfg.socket_url = "/u/%u/%f?a=%a&p=%%";
	server = serve(sock, "HTTP/1.0 500 Internal Server Error\r\n\r\n{}", 0, 1);
	CHECK_CONTAINS(run_source(ws_envsrc_socket, &cfg), "-1|||");
	stop(server);
	CHECK_CONTAINS(unit_read_file(sock + 256), "GET /u/alice/SHA256%3Ak%2F%2B?a=127.0.0.1&p=% HTTP/1.0\n");

	for (i = 0; i < sizeof(failures) / sizeof(failures[0]); i++) {
		server = serve(sock, failures[i].response, failures[i].delay_ms, 1);
		CHECK_CONTAINS(run_source(ws_envsrc_socket, &cfg), failures[i].error);
		stop(server);
	}
	unlink(sock);
	CHECK_CONTAINS(run_source(ws_envsrc_socket, &cfg), "env.sock: No such file or directory");
}

/* ws_http_body reads only inside the length it is given: each response
 * ends right before a page nobody may read, so a read past it is a SIGSEGV
 * even inside libc, where ASan does not look (the fuzzer found sscanf()
 * running on past the end of the status line). */
static const char *http_verdict(const char *text) {
	static char out[300];
	size_t len = strlen(text), blen = 0, page = (size_t)sysconf(_SC_PAGESIZE);
	char *pages, *resp, why[256] = "";
	const char *body = NULL;

	pages = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pages == MAP_FAILED || len > page || mprotect(pages + page, page, PROT_NONE) != 0) {
		return "no guard page";
	}
	resp = pages + page - len;
	memcpy(resp, text, len);
	if (ws_http_body(resp, len, &body, &blen, why, sizeof(why)) == 0) {
		snprintf(out, sizeof(out), "body=%.*s", (int)blen, body);
	} else {
		snprintf(out, sizeof(out), "%s", why);
	}
	munmap(pages, 2 * page);
	return out;
}

static void http_response_parser(void) {
	CHECK_STR(http_verdict("HTTP/1.0 200 OK\r\n\r\n{}"), "body={}");
	CHECK_STR(http_verdict("HTTP/1.1 200\n\n{}"), "body={}");
	CHECK_STR(http_verdict("HTTP/1.0 200 OK\r\ncontent-length:  2 \r\n\r\n{}junk"), "body={}");
	CHECK_STR(http_verdict("HTTP/1.1 404 Not Found\r\n\r\n"), "HTTP status 404");
	/* the regression input: a status line that ends in the buffer's last byte */
	CHECK_STR(http_verdict("HTTP/1.( ^^^^^^^^^^^^ `"), "not an HTTP response");
	CHECK_STR(http_verdict("HTTP/1.1    "), "not an HTTP response");
	CHECK_STR(http_verdict("HTTP/1.1  200 OK\r\n\r\n"), "not an HTTP response");
	CHECK_STR(http_verdict("HTTP/1.1 2000 OK\r\n\r\n"), "not an HTTP response");
	CHECK_STR(http_verdict("HTTP/1.1 200 OK\r\n"), "incomplete HTTP headers");
	/* a Content-Length is read from its own line, never from the body */
	CHECK_STR(http_verdict("HTTP/1.0 200 OK\r\nContent-Length:\r\n\r\n1"), "bad Content-Length");
	CHECK_STR(http_verdict("HTTP/1.0 200 OK\r\nContent-Length: 1x\r\n\r\n{}"), "bad Content-Length");
	CHECK_STR(http_verdict("HTTP/1.0 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x"),
		"bad Content-Length");
	CHECK_STR(http_verdict("HTTP/1.0 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n{}"),
		"body shorter than its Content-Length");
	CHECK_STR(http_verdict("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
		"chunked or encoded body (the request was HTTP/1.0)");
}

UNIT_SUITE(envsource_tests) = {
	{ "envsource: directory in the kubelet layout", dir_source_kubelet_layout },
	{ "envsource: dotenv file", file_source },
	{ "envsource: helper command", command_source },
	{ "envsource: socket endpoint", socket_source },
	{ "envsource: HTTP response parser", http_response_parser },
	UNIT_END
};
