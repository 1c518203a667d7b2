/*
 * envsources.h - the four environment sources.  Each adds what it finds
 * to `list` under the rules of envlist.h and returns:
 *    1  the source succeeded but had nothing to say (an optional per-user
 *       file or directory that does not exist)
 *    0  it succeeded
 *   -1  it failed; `err` says why in one line without any value in it, and
 *       the caller throws `list` away.
 * A file, directory or program that someone other than root and the
 * server's uid could change fails its source (envtrust.c).
 */
#ifndef WS_ENVSOURCES_H
#define WS_ENVSOURCES_H

#include <stddef.h>
#include <time.h>

#include "config.h"
#include "envlist.h"

/* Who the variables are for; also the helper's argv and the URL's %-codes. */
struct ws_env_request {
	const char *user;
	const char *session_id;
	const char *client_addr;
	const char *fingerprint; /* "" when unknown */
};

/* env_dir: DIR's files, then DIR/USER/'s files. */
int ws_envsrc_dir(const struct ws_env_config *cfg, const struct ws_env_request *req,
	struct ws_envlist *list, char *err, size_t errlen);
/* env_file: a dotenv file ("%u" = the user name). */
int ws_envsrc_file(const struct ws_env_config *cfg, const struct ws_env_request *req,
	struct ws_envlist *list, char *err, size_t errlen);
/* env_command: a helper's KEY=VALUE output. */
int ws_envsrc_command(const struct ws_env_config *cfg, const struct ws_env_request *req,
	struct ws_envlist *list, char *err, size_t errlen);
/* env_socket: GET env_socket_url over a Unix socket, a JSON object back. */
int ws_envsrc_socket(const struct ws_env_config *cfg, const struct ws_env_request *req,
	struct ws_envlist *list, char *err, size_t errlen);

/* envtrust.c: may a source be used, i.e. can nobody but root and the
 * server's uid change it (the rule is at the top of envtrust.c)?  Each
 * returns 0, or -1 with "PATH: why; refusing it" in err.
 * ws_trust_fd: the open file or directory itself (path for the message);
 * ws_trust_parents: every directory above path, as written and as
 *   resolved, and the owner of path itself when it is a symlink;
 * ws_trust_path: both, for a path not opened here (env_command). */
int ws_trust_fd(int fd, const char *path, char *err, size_t errlen);
int ws_trust_parents(const char *path, char *err, size_t errlen);
int ws_trust_path(const char *path, char *err, size_t errlen);
/* ws_trust_path, but writable by the server's own group too (a Kubernetes
 * volume with fsGroup = the server's gid): the gateway's state directory. */
int ws_trust_own_volume(const char *path, char *err, size_t errlen);

/* Shared by the sources: reads fd to EOF into a malloc'd, NUL-terminated
 * buffer of at most `cap` bytes.  `deadline` (CLOCK_MONOTONIC) may be NULL.
 * Returns 0, or -1 with err set ("larger than N bytes", "timed out", ...). */
int ws_read_all(int fd, size_t cap, const struct timespec *deadline,
	char **out, size_t *len, char *err, size_t errlen);
/* Deadlines on the monotonic clock, for the bounded reads and requests. */
void ws_deadline_in(struct timespec *t, unsigned int ms);
int ws_deadline_passed(const struct timespec *t);
void ws_sleep_us(long us);

/* Frees a buffer from ws_read_all, wiping it first (it may hold secrets). */
void ws_free_secret(char *buf, size_t len);
/* What a parser emits goes through the rules into list. */
struct ws_envsrc_sink {
	struct ws_envlist *list;
	const struct ws_env_config *cfg;
};
void ws_envsrc_put(void *sink, const char *name, size_t nlen, const char *value, size_t vlen);

/* env_socket's response: finds the body of a complete HTTP/1.x response of
 * `len` bytes and checks its status is 200.  0, or -1 with why set.  Not
 * part of the hook ABI (the library exports only ws_hook_entry); here so
 * that the unit tests and the fuzzer can call it. */
int ws_http_body(const char *resp, size_t len, const char **body, size_t *blen,
	char *why, size_t whylen);

/* The status code of an HTTP/1.x response of `len` bytes, or -1. */
int ws_http_status(const char *resp, size_t len);

/* GET `path` (HTTP/1.0, Accept: accept) from the HTTP server on the Unix
 * socket socket_path within timeout_ms, reading at most body_max bytes of
 * body plus the headers.  0 with the whole response in *resp (free it with
 * ws_free_secret), or -1 with err set. */
int ws_http_get_unix(const char *socket_path, const char *path, const char *accept,
	unsigned int timeout_ms, size_t body_max, char **resp, size_t *len,
	char *err, size_t errlen);

#endif
