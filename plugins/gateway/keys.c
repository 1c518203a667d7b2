/*
 * keys.c - the authorized_keys a workspace gets: its owner's and those of
 * the users gateway_grants lets in, as the key sources say now.  Written
 * at create and again before every start (the podman backend hands the
 * file to the container at start), so a key taken out of the gateway no
 * longer opens the workspace once it starts again, and a grant lets the
 * grantee in end to end, not only through the gateway's check.
 */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include "gw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HOLDERS 64               /* owner + grantees of one workspace */
#define KEYS_TOTAL_MAX (256 * 1024)  /* every holder's lines together */

struct holders {
	char names[MAX_HOLDERS][WS_GW_NAME_MAX + 1];
	unsigned int n;
};

static void add_holder(struct holders *h, const char *user) {
	unsigned int i;
	for (i = 0; i < h->n; i++) {
		if (strcmp(h->names[i], user) == 0) {
			return;
		}
	}
	if (h->n < MAX_HOLDERS && strlen(user) < sizeof(h->names[0])) {
		memcpy(h->names[h->n++], user, strlen(user) + 1);
	}
}

/* The users a valid grants text lets into `name` ("USER NAME" or "USER *"). */
static void add_grantees(struct holders *h, const char *text, const char *name) {
	const char *p = text;

	while (*p != '\0') {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		char line[256], u[WS_GW_NAME_MAX + 2], w[WS_GW_NAME_MAX + 2];

		if (n < sizeof(line)) {
			memcpy(line, p, n);
			line[n] = '\0';
			if (sscanf(line, "%64s %64s", u, w) == 2 && u[0] != '#'
					&& ws_gw_user_valid(u)
					&& (strcmp(w, "*") == 0 || strcmp(w, name) == 0)) {
				add_holder(h, u);
			}
		}
		p = eol ? eol + 1 : p + n;
	}
}

/* Owner and grantees of `name`; 0, or -1 with why (a grants file that
 * cannot be used: the workspace is not started on a guess). */
static int holders_of(struct gw *g, const char *name, struct holders *h,
		char *why, size_t whylen) {
	char owner[WS_GW_NAME_MAX + 1], err[256];
	char *text = NULL;
	size_t len = 0, n = strcspn(name, "-");
	int ret;

	h->n = 0;
	snprintf(owner, sizeof(owner), "%.*s", (int)n, name);
	if (ws_gw_user_valid(owner)) {
		add_holder(h, owner);
	}
	if (g->cfg.gateway.grants == NULL) {
		return 0;
	}
	ret = ws_gw_read_trusted(g->cfg.gateway.grants, 64 * 1024, &text, &len, err, sizeof(err));
	if (ret == 1) {
		return 0; /* no file: no grants */
	}
	if (ret != 0 || ws_gw_grants_allow(text, len, owner, name, err, sizeof(err)) < 0) {
		snprintf(why, whylen, "gateway_grants %s: %s", g->cfg.gateway.grants, err);
		free(text);
		return -1;
	}
	add_grantees(h, text, name);
	free(text);
	return 0;
}

int gw_workspace_keys(struct gw *g, const char *name, char **text, size_t *len,
		char *why, size_t whylen) {
	struct holders h;
	char *all = NULL;
	size_t used = 0;
	unsigned int i;

	*text = NULL;
	*len = 0;
	if (holders_of(g, name, &h, why, whylen) != 0) {
		return -1;
	}
	for (i = 0; i < h.n; i++) {
		char *keys = NULL, *grown;
		size_t klen = 0;
		int ret = ws_gw_user_keys(&g->cfg, h.names[i], &keys, &klen, why, whylen);
		if (ret < 0) {
			goto fail; /* a source that failed: not a smaller key set */
		}
		if (ret == 0 || klen == 0) {
			continue; /* no longer a user: none of their keys */
		}
		if (used + klen + 1 > KEYS_TOTAL_MAX
				|| (grown = realloc(all, used + klen + 2)) == NULL) {
			snprintf(why, whylen, "the keys of '%s' are more than %d bytes",
				name, KEYS_TOTAL_MAX);
			explicit_bzero(keys, klen);
			free(keys);
			goto fail;
		}
		all = grown;
		memcpy(all + used, keys, klen);
		used += klen;
		if (all[used - 1] != '\n') {
			all[used++] = '\n';
		}
		explicit_bzero(keys, klen);
		free(keys);
	}
	if (used == 0) {
		snprintf(why, whylen, "no keys for '%s' (its owner and grantees have none)", name);
		goto fail;
	}
	all[used] = '\0';
	*text = all;
	*len = used;
	return 0;
fail:
	if (all != NULL) {
		explicit_bzero(all, used);
		free(all);
	}
	return -1;
}
