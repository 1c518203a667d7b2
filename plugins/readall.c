/*
 * readall.c - reading a descriptor to its end within a size cap and a
 * deadline, and freeing what was read with its bytes wiped: shared by the
 * environment sources and the gateway's key sources, which read what may
 * be secrets from helpers, files and sockets.
 */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include "envsources.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void ws_deadline_in(struct timespec *t, unsigned int ms) {
	clock_gettime(CLOCK_MONOTONIC, t);
	t->tv_sec += ms / 1000;
	t->tv_nsec += (long)(ms % 1000) * 1000000;
	if (t->tv_nsec >= 1000000000) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000;
	}
}

int ws_deadline_passed(const struct timespec *t) {
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

void ws_sleep_us(long us) {
	struct timespec t = { us / 1000000, (us % 1000000) * 1000 };
	nanosleep(&t, NULL);
}

static long ms_until(const struct timespec *deadline) {
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long ms = (long)(deadline->tv_sec - now.tv_sec) * 1000
		+ (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms;
}

int ws_read_all(int fd, size_t cap, const struct timespec *deadline,
		char **out, size_t *len, char *err, size_t errlen) {
	size_t size = cap < 4096 ? cap + 1 : 4096, used = 0;
	char *buf = malloc(size);

	if (buf == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (;;) {
		ssize_t got;
		if (deadline != NULL) {
			struct pollfd pfd = { fd, POLLIN, 0 };
			int ready = poll(&pfd, 1, (int)ms_until(deadline));
			if (ready < 0 && errno == EINTR) {
				continue;
			}
			if (ready == 0) {
				snprintf(err, errlen, "timed out");
				break;
			}
		}
		if (used + 1 == size) {
			size_t bigger = size * 2 > cap + 1 ? cap + 1 : size * 2;
			char *grown;
			if (bigger == size) {
				snprintf(err, errlen, "larger than %zu bytes", cap);
				break;
			}
			grown = malloc(bigger);
			if (grown == NULL) {
				snprintf(err, errlen, "out of memory");
				break;
			}
			memcpy(grown, buf, used);
			ws_free_secret(buf, used);
			buf = grown;
			size = bigger;
		}
		got = read(fd, buf + used, size - 1 - used);
		if (got < 0 && (errno == EINTR || errno == EAGAIN)) {
			continue;
		}
		if (got < 0) {
			snprintf(err, errlen, "read: %s", strerror(errno));
			break;
		}
		if (got == 0) {
			buf[used] = '\0';
			*out = buf;
			*len = used;
			return 0;
		}
		used += (size_t)got;
	}
	ws_free_secret(buf, used);
	return -1;
}

void ws_free_secret(char *buf, size_t len) {
	if (buf != NULL) {
		explicit_bzero(buf, len);
		free(buf);
	}
}
