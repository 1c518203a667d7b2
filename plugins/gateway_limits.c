/*
 * gateway_limits.c - gateway_user_limits: per-user exceptions to
 * gateway_create and gateway_max_per_user, one line per user:
 *
 *     alice create=on max=10
 *     bob create=off
 *
 * A field a user's line leaves out is the config's; when several lines
 * name a user, the last one counts, whole.  Read at each create (as the
 * grants file is read at each use), with the same trust rule, so a change
 * applies without a restart.  A malformed file is refused whole, so that
 * whether a user may create never depends on where a broken line is.
 */
#include "gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIMITS_MAX (1024 * 1024)

/* One "key=value" word into *create or *max; 0 or -1. */
static int limit_word(const char *word, int *create, unsigned int *max) {
	char *end;
	unsigned long n;

	if (strncmp(word, "create=", 7) == 0) {
		return ws_gw_parse_create(word + 7, create);
	}
	if (strncmp(word, "max=", 4) == 0 && word[4] >= '0' && word[4] <= '9') {
		n = strtoul(word + 4, &end, 10);
		if (*end != '\0' || n < 1 || n > 1000) {
			return -1;
		}
		*max = (unsigned int)n;
		return 0;
	}
	return -1;
}

int ws_gw_limits_parse(const char *text, size_t len, const char *user, int *create,
		unsigned int *max, char *why, size_t whylen) {
	const char *p = text, *end = text + len;
	unsigned int lineno = 0;
	int found_create = *create;
	unsigned int found_max = *max;

	for (;;) {
		char line[256], *word, *save = NULL;
		int line_create = *create, mine;
		unsigned int line_max = *max;
		int got = ws_gw_next_line(&p, end, line, sizeof(line), &lineno, why, whylen);

		if (got <= 0) {
			if (got < 0) {
				return -1;
			}
			break;
		}
		word = strtok_r(line, " \t", &save);
		if (word == NULL || word[0] == '#') {
			continue;
		}
		if (!ws_gw_user_valid(word)) {
			goto malformed;
		}
		mine = strcmp(word, user) == 0;
		while ((word = strtok_r(NULL, " \t", &save)) != NULL) {
			if (limit_word(word, &line_create, &line_max) != 0) {
				goto malformed;
			}
		}
		if (mine) {
			found_create = line_create;
			found_max = line_max;
		}
		continue;
malformed:
		snprintf(why, whylen, "line %u: expected 'USER [create=yes|no|own] [max=1-1000]'",
			lineno);
		return -1;
	}
	*create = found_create;
	*max = found_max;
	return 0;
}

int ws_gw_user_limits(const struct ws_config *cfg, const char *user, int *create,
		unsigned int *max, char *why, size_t whylen) {
	char *text = NULL, err[512];
	size_t len = 0;
	int ret;

	*create = cfg->gateway.create;
	*max = cfg->gateway.max_per_user;
	if (cfg->gateway.user_limits == NULL) {
		return 0;
	}
	ret = ws_gw_read_trusted(cfg->gateway.user_limits, LIMITS_MAX, &text, &len, err,
		sizeof(err));
	if (ret == 1) {
		return 0; /* no file: no exceptions */
	}
	if (ret != 0) {
		snprintf(why, whylen, "gateway_user_limits %s", err);
		return -1;
	}
	ret = ws_gw_limits_parse(text, len, user, create, max, err, sizeof(err));
	if (ret != 0) {
		snprintf(why, whylen, "gateway_user_limits %s: %s", cfg->gateway.user_limits, err);
	}
	free(text);
	return ret;
}

int ws_gw_may_create(int create, const char *user, const char *name) {
	return ws_gw_owns(user, name)
		&& (create == WS_GW_CREATE_ON || (create == WS_GW_CREATE_OWN && strcmp(user, name) == 0));
}
