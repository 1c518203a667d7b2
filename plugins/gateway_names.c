/*
 * gateway_names.c - workspace names and who may use them.  A name is a
 * lower-case DNS label, so it is safe as a file name, a container name and
 * a host name alike.  A user name is a name without '-'; user U owns U
 * and U-*; a grants file adds others.
 */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include "gateway.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "envsources.h"

int ws_gw_name_valid(const char *name) {
	size_t n, i;

	if (name == NULL || (n = strlen(name)) == 0 || n > WS_GW_NAME_MAX
			|| name[0] == '-' || name[n - 1] == '-') {
		return 0;
	}
	for (i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
			return 0;
		}
	}
	return 1;
}

int ws_gw_user_valid(const char *user) {
	size_t n;

	if (user == NULL || (n = strlen(user)) == 0 || n > WS_GW_USER_MAX) {
		return 0;
	}
	return strspn(user, "abcdefghijklmnopqrstuvwxyz0123456789") == n;
}

int ws_gw_owns(const char *user, const char *name) {
	size_t n;

	if (!ws_gw_user_valid(user) || !ws_gw_name_valid(name)) {
		return 0;
	}
	n = strlen(user);
	return strcmp(user, name) == 0
		|| (strncmp(user, name, n) == 0 && name[n] == '-' && name[n + 1] != '\0');
}

int ws_gw_next_line(const char **p, const char *end, char *line, size_t size,
		unsigned int *lineno, char *why, size_t whylen) {
	const char *eol;
	size_t n;

	if (*p >= end) {
		return 0;
	}
	eol = memchr(*p, '\n', (size_t)(end - *p));
	n = (size_t)((eol ? eol : end) - *p);
	++*lineno;
	if (n >= size || memchr(*p, '\0', n) != NULL) {
		snprintf(why, whylen, "line %u: too long or binary", *lineno);
		return -1;
	}
	memcpy(line, *p, n);
	line[n] = '\0';
	*p = eol ? eol + 1 : end;
	if (n > 0 && line[n - 1] == '\r') {
		line[n - 1] = '\0';
	}
	return 1;
}

int ws_gw_grants_allow(const char *text, size_t len, const char *user, const char *name,
		char *why, size_t whylen) {
	const char *p = text, *end = text + len;
	unsigned int lineno = 0;
	int allowed = 0;

	/* every line is checked, not only up to the first match: a broken
	 * file is refused whole, so what it grants never depends on order */
	for (;;) {
		char u[WS_GW_NAME_MAX + 2], w[WS_GW_NAME_MAX + 2], extra[2];
		char line[256];
		int fields, got = ws_gw_next_line(&p, end, line, sizeof(line), &lineno, why, whylen);

		if (got <= 0) {
			return got < 0 ? -1 : allowed;
		}
		if (line[strspn(line, " \t")] == '\0' || line[strspn(line, " \t")] == '#') {
			continue;
		}
		fields = sscanf(line, "%64s %64s %1s", u, w, extra);
		if (fields != 2 || !ws_gw_user_valid(u)
				|| (strcmp(w, "*") != 0 && !ws_gw_name_valid(w))) {
			snprintf(why, whylen, "line %u: expected 'USER NAME' (USER a user "
				"name, NAME a workspace name or *)", lineno);
			return -1;
		}
		if (strcmp(u, user) == 0 && (strcmp(w, "*") == 0 || strcmp(w, name) == 0)) {
			allowed = 1;
		}
	}
}

/* Reads fd to EOF, at most max bytes, within timeout_ms (a FIFO must not
 * hold a login).  0 with *text, or -1 with why. */
static int read_capped(int fd, size_t max, int timeout_ms, char **text, size_t *len,
		char *why, size_t whylen) {
	struct timespec start, now;
	char *buf = malloc(max + 1);
	size_t used = 0;

	if (buf == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		ssize_t got;
		long left;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = timeout_ms - ((now.tv_sec - start.tv_sec) * 1000
			+ (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0 || (poll(&pfd, 1, (int)left) == 0)) {
			snprintf(why, whylen, "timed out reading");
			break;
		}
		got = read(fd, buf + used, max + 1 - used);
		if (got < 0 && (errno == EINTR || errno == EAGAIN)) {
			continue;
		}
		if (got < 0) {
			snprintf(why, whylen, "read: %s", strerror(errno));
			break;
		}
		if (got == 0) {
			buf[used] = '\0';
			*text = buf;
			*len = used;
			return 0;
		}
		used += (size_t)got;
		if (used > max) {
			snprintf(why, whylen, "larger than %zu bytes", max);
			break;
		}
	}
	explicit_bzero(buf, used);
	free(buf);
	return -1;
}

int ws_gw_read_trusted(const char *path, size_t max, char **text, size_t *len,
		char *why, size_t whylen) {
	char err[512];
	int fd;

	if (ws_trust_parents(path, err, sizeof(err)) != 0) {
		snprintf(why, whylen, "%s", err);
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT) {
			return 1;
		}
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (ws_trust_fd(fd, path, err, sizeof(err)) != 0) {
		snprintf(why, whylen, "%s", err);
		close(fd);
		return -1;
	}
	if (read_capped(fd, max, 2000, text, len, err, sizeof(err)) != 0) {
		snprintf(why, whylen, "%s: %s", path, err);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int ws_gw_may_use(const struct ws_config *cfg, const char *user, const char *name,
		char *why, size_t whylen) {
	char *text = NULL, err[512];
	size_t len = 0;
	int ret;

	if (!ws_gw_user_valid(user) || !ws_gw_name_valid(name)) {
		return 0;
	}
	if (ws_gw_owns(user, name)) {
		return 1;
	}
	if (cfg->gateway.grants == NULL) {
		return 0;
	}
	ret = ws_gw_read_trusted(cfg->gateway.grants, WS_GW_GRANTS_MAX, &text, &len,
		err, sizeof(err));
	if (ret == 1) {
		return 0; /* no file: nothing granted */
	}
	if (ret != 0) {
		snprintf(why, whylen, "gateway_grants %s", err);
		return -1;
	}
	ret = ws_gw_grants_allow(text, len, user, name, err, sizeof(err));
	if (ret < 0) {
		snprintf(why, whylen, "gateway_grants %s: %s", cfg->gateway.grants, err);
	}
	free(text);
	return ret;
}

int ws_gw_parse_host(const char *host, const char *suffix, char *out, size_t outlen) {
	size_t n = strlen(host), s, i;

	if (suffix == NULL) {
		suffix = ".ws";
	}
	s = strlen(suffix);
	if (n > s && strcmp(host + n - s, suffix) == 0) {
		n -= s;
	}
	if (n < outlen && n <= WS_GW_NAME_MAX) {
		memcpy(out, host, n);
		out[n] = '\0';
		if (ws_gw_name_valid(out)) {
			return 0;
		}
	}
	/* for the message: capped, and nothing a terminal would act on */
	for (i = 0; i + 1 < outlen && i < 64 && host[i] != '\0'; i++) {
		unsigned char c = (unsigned char)host[i];
		out[i] = (c >= 0x20 && c < 0x7f && c != '\'') ? (char)c : '?';
	}
	out[outlen > 0 ? i : 0] = '\0';
	return -1;
}
