/*
 * secrets.c - the workspace's two Secrets (its keys, its host key), made
 * or taken over.  The backend never reads a Secret: it POSTs one, and when
 * the name is taken PATCHes it, with the label test first so one that is
 * not this gateway's is refused by the API server itself.  A PATCH also
 * points the Secret at the StatefulSet of now: one left by a StatefulSet
 * deleted and made again would otherwise still name the old uid, and the
 * garbage collector would take it away.
 */
#include "kube.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int post(struct kube *k, const char *object, const char *name, const char *sts_uid,
		const char *suffix, const char *key, const char *data, size_t len,
		struct kube_resp *r, char *why, size_t whylen) {
	cJSON *secret = kube_secret(object, suffix, key, (const unsigned char *)data, len,
		k->managed, name, sts_uid);
	int rc;

	if (secret == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	rc = kube_call(k, REQ_CREATE_SECRET, NULL, NULL, secret, r, why, whylen);
	cJSON_Delete(secret);
	return rc;
}

static int patch(struct kube *k, const char *object, const char *sname, const char *sts_uid,
		const char *key, const char *data, size_t len, struct kube_resp *r,
		char *why, size_t whylen) {
	cJSON *ops = kube_patch_new(k->managed), *owners = kube_owner_refs(object, sts_uid);
	char *b64 = kube_base64((const unsigned char *)data, len);
	char path[64];
	int rc;

	if (ops == NULL || owners == NULL || b64 == NULL) {
		cJSON_Delete(ops);
		cJSON_Delete(owners);
		free(b64);
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	snprintf(path, sizeof(path), "/data/%s", key);
	kube_patch_add(ops, "replace", path, cJSON_CreateString(b64));
	free(b64);
	/* add: sets the member whether or not it is there */
	kube_patch_add(ops, "add", "/metadata/ownerReferences", owners);
	rc = kube_call(k, REQ_PATCH_SECRET, sname, NULL, ops, r, why, whylen);
	cJSON_Delete(ops);
	return rc;
}

/* Why a POST or PATCH of Secret sname was refused, naming it (a POST's
 * URL does not). */
static void refused(const struct kube *k, const char *sname, int posting,
		const struct kube_resp *r, char *why, size_t whylen) {
	if (!posting) {
		kube_fail_resp(k, REQ_PATCH_SECRET, sname, r, why, whylen);
		return;
	}
	kube_error_text(why, whylen, "POST", "secrets", sname, r->status, r->body, r->len,
		k->token);
}

int kube_put_secret(struct kube *k, const char *object, const char *name, const char *sts_uid,
		const char *suffix, const char *key, const char *data, size_t len, int post_first,
		char *why, size_t whylen) {
	char sname[160];
	struct kube_resp r;
	int round;

	snprintf(sname, sizeof(sname), "%s-%s", object, suffix);
	/* three rounds: one taken (409) may be collected before the PATCH (404) */
	for (round = 0; round < 3; round++) {
		int posting = post_first == (round % 2 == 0);
		int rc = posting
			? post(k, object, name, sts_uid, suffix, key, data, len, &r, why, whylen)
			: patch(k, object, sname, sts_uid, key, data, len, &r, why, whylen);
		if (rc != 0) {
			return -1;
		}
		if (r.status == 200 || (posting && r.status == 201)) {
			kube_resp_free(&r);
			return 0;
		}
		/* taken (POST) or not there (PATCH): the other one */
		if (round == 2 || r.status != (posting ? 409 : 404)) {
			refused(k, sname, posting, &r, why, whylen);
			kube_resp_free(&r);
			return -1;
		}
		kube_resp_free(&r);
	}
	return -1;
}
