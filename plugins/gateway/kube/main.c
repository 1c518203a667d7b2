/*
 * main.c - ws-gateway-kube: the gateway's backend command protocol
 * (docs/gateway.md) on Kubernetes.  A workspace NAME is the StatefulSet
 * PREFIX+NAME (one replica when running, none when stopped), its home
 * the claim of that StatefulSet's pod, its keys two Secrets the
 * StatefulSet owns.  Exit 0, or 1 with one line on stderr saying why.
 */
#include "kube.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>

#include "gateway.h"

#define WHY_MAX 600

static char why[WHY_MAX];

static void die(const char *text) {
	fprintf(stderr, "%s\n", text);
	exit(1);
}

static void fail_resp(struct kube *k, enum kube_req req, const char *name, struct kube_resp *r) {
	kube_fail_resp(k, req, name, r, why, sizeof(why));
	die(why);
}

/* A request that must answer one of two statuses (the second may be 0). */
static void call(struct kube *k, enum kube_req req, const char *name, const char *query,
		const cJSON *body, struct kube_resp *r) {
	if (kube_call(k, req, name, query, body, r, why, sizeof(why)) != 0) {
		die(why);
	}
}

static cJSON *parse(struct kube_resp *r, const char *what) {
	cJSON *doc = cJSON_ParseWithLength(r->body, r->len);
	if (!cJSON_IsObject(doc)) {
		snprintf(why, sizeof(why), "%s: the answer is not a JSON object", what);
		die(why);
	}
	return doc;
}

/* GET A/OBJECT whoever's it is: NULL on 404. */
static cJSON *get_any_statefulset(struct kube *k, const char *object) {
	struct kube_resp r;
	cJSON *sts;

	call(k, REQ_GET_STS, object, NULL, NULL, &r);
	if (r.status == 404) {
		kube_resp_free(&r);
		return NULL;
	}
	if (r.status != 200) {
		fail_resp(k, REQ_GET_STS, object, &r);
	}
	sts = parse(&r, "GET statefulsets");
	kube_resp_free(&r);
	return sts;
}

/* The workspace's StatefulSet, ours, or NULL when there is none. */
static cJSON *get_statefulset(struct kube *k, const char *object) {
	cJSON *sts = get_any_statefulset(k, object);

	if (sts != NULL && !kube_is_ours(sts, k->managed)) {
		snprintf(why, sizeof(why), "StatefulSet %s exists and is not managed by this gateway",
			object);
		die(why);
	}
	return sts;
}

static const char *uid_of(const cJSON *obj, const char *object) {
	const char *uid = kube_meta_string(obj, "uid");
	if (uid == NULL || uid[0] == '\0') {
		snprintf(why, sizeof(why), "StatefulSet %s has no uid", object);
		die(why);
	}
	return uid;
}

/* The StatefulSet as the template for NAME makes it now. */
static cJSON *from_template(struct kube *k, const char *object, const char *name) {
	char owner[WS_GW_NAME_MAX + 1], path[1200], *text = NULL;
	size_t len;
	struct stat st;
	cJSON *sts;

	snprintf(owner, sizeof(owner), "%.*s", (int)strcspn(name, "-"), name);
	snprintf(path, sizeof(path), "%s/%s.json", k->template_dir, owner);
	if (stat(path, &st) != 0 && errno == ENOENT) {
		snprintf(path, sizeof(path), "%s/default.json", k->template_dir);
	}
	if (kube_read_file(path, KUBE_FILE_MAX, 0, &text, &len, why, sizeof(why)) != 0) {
		die(why);
	}
	sts = kube_statefulset(text, object, name, k->managed, why, sizeof(why));
	free(text);
	if (sts == NULL) {
		char sub[WHY_MAX];
		snprintf(sub, sizeof(sub), "%s", why);
		snprintf(why, sizeof(why), "%.200s: %.390s", path, sub);
		die(why);
	}
	return sts;
}

/* Pod OBJECT-0 of the StatefulSet sts, or NULL when there is none; one
 * that is not this gateway's and that StatefulSet's is refused. */
static cJSON *get_pod(struct kube *k, const char *object, const cJSON *sts) {
	char pod_name[160];
	struct kube_resp r;
	cJSON *pod;

	snprintf(pod_name, sizeof(pod_name), "%s-0", object);
	call(k, REQ_GET_POD, pod_name, NULL, NULL, &r);
	if (r.status == 404) {
		kube_resp_free(&r);
		return NULL;
	}
	if (r.status != 200) {
		fail_resp(k, REQ_GET_POD, pod_name, &r);
	}
	pod = parse(&r, "GET pods");
	kube_resp_free(&r);
	if (!kube_pod_is_ours(pod, k->managed, uid_of(sts, object))) {
		snprintf(why, sizeof(why), "pod %s is not this gateway's", pod_name);
		die(why);
	}
	return pod;
}

static void status(struct kube *k, const char *object) {
	cJSON *sts = get_statefulset(k, object), *pod;
	char ip[64];

	if (sts == NULL) {
		printf("missing\n");
		return;
	}
	if (kube_replicas(sts) == 0) {
		printf("stopped\n");
		cJSON_Delete(sts);
		return;
	}
	pod = get_pod(k, object, sts);
	if (pod != NULL && kube_pod_running(pod, ip, sizeof(ip))) {
		printf("running %s %u\n", ip, kube_ssh_port(sts));
	} else {
		printf("stopped\n");
	}
	cJSON_Delete(pod);
	cJSON_Delete(sts);
}

static void put_secret(struct kube *k, const char *object, const char *name, const char *uid,
		const char *suffix, const char *key, const char *data, size_t len, int post_first) {
	if (kube_put_secret(k, object, name, uid, suffix, key, data, len, post_first, why,
			sizeof(why)) != 0) {
		die(why);
	}
}

/* STATE/DIR/NAME, the gateway's copy (a regular file, not empty), or die
 * saying there is no WHAT. */
static char *state_file(const char *state, const char *dir, const char *name, const char *what,
		size_t *len) {
	char path[1200], sub[WHY_MAX], *text = NULL;

	snprintf(path, sizeof(path), "%s/%s/%s", state, dir, name);
	if (kube_read_file(path, KUBE_FILE_MAX, 1, &text, len, sub, sizeof(sub)) != 0
			|| *len == 0) {
		snprintf(why, sizeof(why), "no %s for workspace '%s' in the gateway's state", what,
			name);
		die(why);
	}
	return text;
}

static char *read_input(const char *path, int nofollow, size_t *len) {
	char *text = NULL;
	if (kube_read_file(path, KUBE_FILE_MAX, nofollow, &text, len, why, sizeof(why)) != 0) {
		die(why);
	}
	return text;
}

/* spec.replicas = n: 0, or -1 with why. */
static int set_replicas(struct kube *k, const char *object, int n, char *out, size_t outlen) {
	cJSON *patch = kube_patch_new(k->managed);
	struct kube_resp r;
	int rc = 0;

	kube_patch_add(patch, "replace", "/spec/replicas", cJSON_CreateNumber(n));
	if (kube_call(k, REQ_PATCH_STS, object, NULL, patch, &r, out, outlen) != 0) {
		cJSON_Delete(patch);
		return -1;
	}
	cJSON_Delete(patch);
	if (r.status != 200) {
		kube_fail_resp(k, REQ_PATCH_STS, object, &r, out, outlen);
		rc = -1;
	}
	kube_resp_free(&r);
	return rc;
}

/* Pod OBJECT-0 is there and Ready. */
static int pod_is_ready(struct kube *k, const char *object, const cJSON *sts) {
	cJSON *pod = get_pod(k, object, sts);
	char ip[64];
	int ready = pod != NULL && kube_pod_running(pod, ip, sizeof(ip));

	cJSON_Delete(pod);
	return ready;
}

static void start(struct kube *k, const char *object, const char *name) {
	const char *state = getenv("WS_GATEWAY_STATE");
	char *keys = NULL, *hostkey = NULL, sub[WHY_MAX];
	size_t keys_len = 0, host_len = 0;
	cJSON *sts, *fresh, *patch;
	struct kube_resp r;
	char sts_uid[128];

	/* the keys the gateway has for it now: a key taken from its owner no
	 * longer opens it once it has been stopped; and its host key, as a
	 * create that stopped half-way may not have made that Secret (the pod
	 * would wait for it for ever) */
	if (state != NULL && state[0] != '\0') {
		keys = state_file(state, "keys", name, "keys", &keys_len);
	}
	if ((sts = get_statefulset(k, object)) == NULL) {
		snprintf(why, sizeof(why), "no workspace '%s'", name);
		die(why);
	}
	if (keys != NULL) {
		hostkey = state_file(state, "hostkeys", name, "host key", &host_len);
		put_secret(k, object, name, uid_of(sts, object), "keys", "authorized_keys", keys,
			keys_len, 0);
		put_secret(k, object, name, uid_of(sts, object), "hostkey", "hostkey", hostkey,
			host_len, 1);
		free(keys);
		free(hostkey);
	}
	/* a running pod is never restarted; a stopped one starts with the
	 * template of now (image, limits), and so does one started that never
	 * got Ready: a fixed image must reach it */
	if (kube_replicas(sts) == 0 || !pod_is_ready(k, object, sts)) {
		fresh = from_template(k, object, name);
		patch = kube_patch_new(k->managed);
		kube_patch_add(patch, "replace", "/spec/template", cJSON_DetachItemFromObjectCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(fresh, "spec"), "template"));
		kube_patch_add(patch, "replace", "/spec/replicas", cJSON_CreateNumber(1));
		cJSON_Delete(fresh);
		call(k, REQ_PATCH_STS, object, NULL, patch, &r);
		cJSON_Delete(patch);
		if (r.status != 200) {
			fail_resp(k, REQ_PATCH_STS, object, &r);
		}
		kube_resp_free(&r);
	}
	snprintf(sts_uid, sizeof(sts_uid), "%s", uid_of(sts, object));
	cJSON_Delete(sts);
	if (kube_wait_ready(k, object, sts_uid, why, sizeof(why)) != 0) {
		/* a pod left wanted and never Ready would hold its node's resources
		 * for good: the keeper stops only what runs */
		size_t used = strlen(why);
		if (set_replicas(k, object, 0, sub, sizeof(sub)) == 0) {
			snprintf(why + used, sizeof(why) - used, "; stopped it again");
		} else {
			snprintf(why + used, sizeof(why) - used, "; stopping it failed: %.200s", sub);
		}
		die(why);
	}
}

static void stop(struct kube *k, const char *object, const char *name) {
	cJSON *sts = get_statefulset(k, object);

	if (sts == NULL) {
		snprintf(why, sizeof(why), "no workspace '%s'", name);
		die(why);
	}
	cJSON_Delete(sts);
	if (set_replicas(k, object, 0, why, sizeof(why)) != 0) {
		die(why);
	}
}

static void create(struct kube *k, const char *object, const char *name, const char *keys_file,
		const char *hostkey_file) {
	size_t keys_len, host_len;
	char *keys = read_input(keys_file, 0, &keys_len);
	char *hostkey = read_input(hostkey_file, 0, &host_len);
	cJSON *sts = from_template(k, object, name), *made;
	struct kube_resp r;

	call(k, REQ_CREATE_STS, NULL, NULL, sts, &r);
	cJSON_Delete(sts);
	if (r.status == 409) {
		/* there already: ours is a create that stopped half-way */
		kube_resp_free(&r);
		made = get_statefulset(k, object);
		if (made == NULL) {
			snprintf(why, sizeof(why), "StatefulSet %s: created and gone meanwhile", object);
			die(why);
		}
	} else if (r.status == 201 || r.status == 200) {
		made = parse(&r, "POST statefulsets");
		kube_resp_free(&r);
	} else {
		fail_resp(k, REQ_CREATE_STS, NULL, &r);
		return;
	}
	put_secret(k, object, name, uid_of(made, object), "keys", "authorized_keys", keys,
		keys_len, 1);
	put_secret(k, object, name, uid_of(made, object), "hostkey", "hostkey", hostkey,
		host_len, 1);
	cJSON_Delete(made);
	free(keys);
	free(hostkey);
}

static cJSON *delete_options(const char *uid, const char *rv) {
	cJSON *o = cJSON_CreateObject(), *pre;
	cJSON_AddStringToObject(o, "apiVersion", "v1");
	cJSON_AddStringToObject(o, "kind", "DeleteOptions");
	cJSON_AddStringToObject(o, "propagationPolicy", "Background");
	pre = cJSON_AddObjectToObject(o, "preconditions");
	cJSON_AddStringToObject(pre, "uid", uid);
	if (rv != NULL) {
		cJSON_AddStringToObject(pre, "resourceVersion", rv);
	}
	return o;
}

/* DELETE one object by name, only the one with this uid and at the
 * resourceVersion whose labels were checked; gone is fine.  0, or the
 * 409 answer in *conflict (the object changed, or is another: look again). */
static int delete_one(struct kube *k, enum kube_req req, const char *object, const cJSON *obj,
		struct kube_resp *conflict) {
	cJSON *opts = delete_options(kube_meta_string(obj, "uid"),
		kube_meta_string(obj, "resourceVersion"));
	struct kube_resp r;

	call(k, req, object, NULL, opts, &r);
	cJSON_Delete(opts);
	if (r.status == 409) {
		*conflict = r;
		return 1;
	}
	if (r.status != 200 && r.status != 202 && r.status != 404) {
		fail_resp(k, req, object, &r);
	}
	kube_resp_free(&r);
	return 0;
}

/* What changed under a DELETE (409): the object's name and uid, and the answer. */
struct conflict {
	char name[160];
	char uid[128];
	struct kube_resp r;
};

/* The workspace's claims by their labels, each deleted: 0, or 1 when one
 * changed meanwhile (in *c).  A claim of the name that changed before (in
 * *before) and of another uid is another claim: the old 409 is the answer. */
static int delete_claims(struct kube *k, const char *name, struct conflict *before,
		struct conflict *c) {
	cJSON *list;
	const cJSON *item;
	struct kube_resp r;
	char query[256];
	int rc = 0;

	snprintf(query, sizeof(query), "labelSelector=ssh-workspace%%2Fgateway%%3D%s%%2C"
		"ssh-workspace%%2Fworkspace%%3D%s", k->managed, name);
	call(k, REQ_LIST_PVC, NULL, query, NULL, &r);
	if (r.status != 200) {
		fail_resp(k, REQ_LIST_PVC, NULL, &r);
	}
	list = parse(&r, "GET persistentvolumeclaims");
	kube_resp_free(&r);
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(list, "items")) {
		const char *pvc = kube_meta_string(item, "name"), *uid = kube_meta_string(item, "uid");
		const cJSON *ws = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(item, "metadata"), "labels"), KUBE_LABEL_WORKSPACE);
		if (pvc == NULL || uid == NULL || !kube_is_ours(item, k->managed)
				|| !cJSON_IsString(ws) || strcmp(ws->valuestring, name) != 0) {
			continue;
		}
		if (before != NULL && strcmp(pvc, before->name) == 0 && strcmp(uid, before->uid) != 0) {
			fail_resp(k, REQ_DELETE_PVC, pvc, &before->r);
		}
		if (delete_one(k, REQ_DELETE_PVC, pvc, item, &c->r)) {
			snprintf(c->name, sizeof(c->name), "%s", pvc);
			snprintf(c->uid, sizeof(c->uid), "%s", uid);
			rc = 1;
			break;
		}
	}
	cJSON_Delete(list);
	return rc;
}

/* A 409 on a DELETE: the object changed since it was read (it is deleted
 * only at the version whose labels were checked), or it is another of that
 * name.  The same one, still ours, is tried again (three times in all);
 * another, or one no longer ours, is left alone with the 409 as the answer. */
static void delete(struct kube *k, const char *object, const char *name) {
	cJSON *sts = get_statefulset(k, object);
	struct conflict c[2];
	int round, n;

	for (round = 0; sts != NULL; round++) {
		const char *u;
		int changed;
		snprintf(c[0].uid, sizeof(c[0].uid), "%s", uid_of(sts, object));
		changed = delete_one(k, REQ_DELETE_STS, object, sts, &c[0].r);
		cJSON_Delete(sts);
		if (!changed || (sts = get_any_statefulset(k, object)) == NULL) {
			break;
		}
		u = kube_meta_string(sts, "uid");
		if (round == 2 || u == NULL || strcmp(u, c[0].uid) != 0
				|| !kube_is_ours(sts, k->managed)) {
			fail_resp(k, REQ_DELETE_STS, object, &c[0].r);
		}
		kube_resp_free(&c[0].r);
	}
	/* its Secrets go with it (owner references); its home claims do not */
	for (round = 0, n = 0; delete_claims(k, name, round ? &c[n ^ 1] : NULL, &c[n]); round++) {
		if (round == 2) {
			fail_resp(k, REQ_DELETE_PVC, c[n].name, &c[n].r);
		}
		if (round > 0) {
			kube_resp_free(&c[n ^ 1].r);
		}
		n ^= 1;
	}
}

static void activity(struct kube *k, const char *object, const char *name) {
	char *out = NULL, ip[64];
	size_t len = 0;
	struct timespec ts;
	cJSON *sts = get_statefulset(k, object), *pod;

	if (sts == NULL) {
		snprintf(why, sizeof(why), "no workspace '%s'", name);
		die(why);
	}
	/* what runs in a pod of someone else's says nothing of this workspace */
	pod = get_pod(k, object, sts);
	if (pod == NULL || !kube_pod_running(pod, ip, sizeof(ip))) {
		snprintf(why, sizeof(why), "pod %s-0 is not running", object);
		die(why);
	}
	cJSON_Delete(pod);
	cJSON_Delete(sts);
	if (kube_exec_activity(k, object, &out, &len, why, sizeof(why)) != 0) {
		die(why);
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	printf("%lld\n", (long long)kube_activity_parse(out, len,
		(int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000));
	free(out);
}

int main(int argc, char **argv) {
	const char *verb = argc > 1 ? argv[1] : "", *name = argc > 2 ? argv[2] : "";
	char object[128];
	struct kube *k;
	int args = strcmp(verb, "create") == 0 ? 5 : strcmp(verb, "list") == 0
		|| strcmp(verb, "requests") == 0 ? 2 : 3;

	if (strcmp(verb, "requests") == 0 && argc == 2) {
		kube_print_requests();
		return 0;
	}
	/* a server that closes on us is an error to report, not a signal to die of
	 * (libcurl leaves signals alone with CURLOPT_NOSIGNAL) */
	signal(SIGPIPE, SIG_IGN);
	if (argc > 1 && strcmp(verb, "requests") != 0 && strcmp(verb, "status") != 0 && strcmp(verb, "start") != 0 && strcmp(verb, "stop") != 0
			&& strcmp(verb, "create") != 0 && strcmp(verb, "delete") != 0
			&& strcmp(verb, "list") != 0 && strcmp(verb, "activity") != 0) {
		snprintf(why, sizeof(why), "unknown request '%.64s'", verb);
		die(why);
	}
	if (argc != args) {
		die("usage: ws-gateway-kube status|start|stop|delete|activity NAME | "
			"create NAME KEYS_FILE HOSTKEY_FILE | list | requests");
	}
	/* the gateway checks names; checked again: they go into URLs */
	if (args > 2 && (!ws_gw_name_valid(name))) {
		snprintf(why, sizeof(why), "'%.64s' is not a workspace name", name);
		die(why);
	}
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		die("out of memory");
	}
	if (kube_env_load(k, why, sizeof(why)) != 0) {
		die(why);
	}
	if (args > 2 && kube_object_name(k->prefix, name, object, sizeof(object), why,
			sizeof(why)) != 0) {
		die(why);
	}
	/* the gateway kills a call at its time limit: answer before, with the reason */
	k->deadline_ms = kube_now_ms() + (strcmp(verb, "start") == 0 || strcmp(verb, "create") == 0
		? (long long)k->ready_timeout * 1000 + KUBE_READY_EXTRA_MS : KUBE_COMMAND_MS);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		die("cannot start libcurl");
	}
	if (strcmp(verb, "status") == 0) {
		status(k, object);
	} else if (strcmp(verb, "start") == 0) {
		start(k, object, name);
	} else if (strcmp(verb, "stop") == 0) {
		stop(k, object, name);
	} else if (strcmp(verb, "create") == 0) {
		create(k, object, name, argv[3], argv[4]);
	} else if (strcmp(verb, "delete") == 0) {
		delete(k, object, name);
	} else if (strcmp(verb, "list") == 0) {
		if (kube_list(k, why, sizeof(why)) != 0) {
			die(why);
		}
	} else {
		activity(k, object, name);
	}
	curl_global_cleanup();
	free(k);
	return fflush(stdout) == 0 ? 0 : 1;
}
