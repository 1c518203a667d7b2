/*
 * http_unix.c - a GET over HTTP/1.0 to a server on a Unix socket, and
 * reading its answer strictly: the env_socket source and the gateway's
 * gateway_keys_socket both speak it.  Bounded in time and size; the body
 * is found only inside the bytes read.
 */
#define _DEFAULT_SOURCE /* strncasecmp */
#include "envsources.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Room for the response's status line and headers besides the body. */
#define HTTP_HEADER_MAX 8192
#define URL_MAX 2048

static int connect_by(int fd, const struct sockaddr_un *sa, const struct timespec *deadline) {
	for (;;) {
		if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0) {
			return 0;
		}
		/* a full backlog on a Unix socket says EAGAIN: try again briefly */
		if ((errno != EAGAIN && errno != EINTR) || ws_deadline_passed(deadline)) {
			return -1;
		}
		ws_sleep_us(5000);
	}
}

static int send_all(int fd, const char *buf, size_t len, const struct timespec *deadline) {
	while (len > 0) {
		ssize_t sent = send(fd, buf, len, MSG_NOSIGNAL);
		if (sent < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct pollfd pfd = { fd, POLLOUT, 0 };
			if (ws_deadline_passed(deadline)) {
				errno = ETIMEDOUT;
				return -1;
			}
			poll(&pfd, 1, 10);
			continue;
		}
		if (sent < 0) {
			return -1;
		}
		buf += sent;
		len -= (size_t)sent;
	}
	return 0;
}

static int is_digit(char c) {
	return c >= '0' && c <= '9';
}

/* A header line [p, eol) (no CR or LF) named `name` (with its colon)?
 * Points *value past the name if so. */
static int header_is(const char *p, const char *eol, const char *name, const char **value) {
	size_t n = strlen(name);
	if ((size_t)(eol - p) < n || strncasecmp(p, name, n) != 0) {
		return 0;
	}
	*value = p + n;
	return 1;
}

/* Content-Length's value in [p, eol): digits with blanks around, read only
 * inside the line.  -1 if it is anything else; a value over `max` is
 * max + 1 (the body cannot be that long anyway). */
static long long content_length(const char *p, const char *eol, size_t max) {
	unsigned long long n = 0;
	const char *digits;

	while (p < eol && (*p == ' ' || *p == '\t')) {
		p++;
	}
	for (digits = p; p < eol && is_digit(*p); p++) {
		if (n <= max) {
			n = n * 10 + (unsigned long long)(*p - '0');
		}
	}
	if (p == digits) {
		return -1;
	}
	while (p < eol && (*p == ' ' || *p == '\t')) {
		p++;
	}
	if (p != eol) {
		return -1;
	}
	return n > max ? (long long)max + 1 : (long long)n;
}

/* Everything is read inside [resp, resp + len): the buffer need not be
 * NUL-terminated. */
int ws_http_body(const char *resp, size_t len, const char **body, size_t *blen,
		char *why, size_t whylen) {
	const char *head_end = NULL, *p, *eol, *value;
	long long want = -1;
	size_t i;
	int status;

	status = ws_http_status(resp, len);
	if (status < 0) {
		snprintf(why, whylen, "not an HTTP response");
		return -1;
	}
	if (status != 200) {
		snprintf(why, whylen, "HTTP status %d", status);
		return -1;
	}
	for (i = 0; i + 1 < len && head_end == NULL; i++) {
		if (resp[i] == '\n' && (resp[i + 1] == '\n'
				|| (resp[i + 1] == '\r' && i + 2 < len && resp[i + 2] == '\n'))) {
			head_end = resp + i + (resp[i + 1] == '\n' ? 2 : 3);
		}
	}
	if (head_end == NULL) {
		snprintf(why, whylen, "incomplete HTTP headers");
		return -1;
	}
	*body = head_end;
	*blen = len - (size_t)(head_end - resp);
	/* the header lines after the status line; each ends in '\n' before head_end */
	for (p = (const char *)memchr(resp, '\n', len) + 1; p < head_end; p = eol + 1) {
		const char *line_end;
		eol = memchr(p, '\n', (size_t)(head_end - p));
		line_end = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
		if (header_is(p, line_end, "transfer-encoding:", &value)) {
			snprintf(why, whylen, "chunked or encoded body (the request was HTTP/1.0)");
			return -1;
		}
		if (header_is(p, line_end, "content-length:", &value)) {
			long long n = content_length(value, line_end, *blen);
			if (n < 0 || (want >= 0 && n != want)) {
				snprintf(why, whylen, "bad Content-Length");
				return -1;
			}
			want = n;
		}
	}
	if (want > (long long)*blen) {
		snprintf(why, whylen, "body shorter than its Content-Length");
		return -1;
	}
	if (want >= 0) {
		*blen = (size_t)want;
	}
	return 0;
}

int ws_http_status(const char *resp, size_t len) {
	/* "HTTP/1.x NNN" followed by a blank or the end of the line */
	if (len < 13 || memcmp(resp, "HTTP/1.", 7) != 0 || !is_digit(resp[7]) || resp[8] != ' '
			|| !is_digit(resp[9]) || !is_digit(resp[10]) || !is_digit(resp[11])
			|| (resp[12] != ' ' && resp[12] != '\r' && resp[12] != '\n')) {
		return -1;
	}
	return (resp[9] - '0') * 100 + (resp[10] - '0') * 10 + (resp[11] - '0');
}

int ws_http_get_unix(const char *socket_path, const char *path, const char *accept,
		unsigned int timeout_ms, size_t body_max, char **resp, size_t *len,
		char *err, size_t errlen) {
	struct sockaddr_un sa;
	struct timespec deadline;
	char request[URL_MAX + 256], why[256];
	int fd, ret = -1;

	*resp = NULL;
	*len = 0;
	ws_deadline_in(&deadline, timeout_ms);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(socket_path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: socket path too long", socket_path);
		return -1;
	}
	strcpy(sa.sun_path, socket_path);
	if (strlen(path) > URL_MAX) {
		snprintf(err, errlen, "%s: request path longer than %d bytes", socket_path, URL_MAX);
		return -1;
	}
	snprintf(request, sizeof(request), "GET %s HTTP/1.0\r\nHost: localhost\r\n"
		"User-Agent: ssh-workspace\r\nAccept: %s\r\nConnection: close\r\n\r\n",
		path, accept);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect_by(fd, &sa, &deadline) != 0
			|| send_all(fd, request, strlen(request), &deadline) != 0) {
		snprintf(err, errlen, "%s: %s", socket_path, strerror(errno));
	} else if (ws_read_all(fd, body_max + HTTP_HEADER_MAX, &deadline, resp, len,
			why, sizeof(why)) != 0) {
		if (strcmp(why, "timed out") == 0) {
			snprintf(why, sizeof(why), "timed out after %u ms", timeout_ms);
		}
		snprintf(err, errlen, "%s: response %s", socket_path, why);
	} else {
		ret = 0;
	}
	if (fd >= 0) {
		close(fd);
	}
	return ret;
}
