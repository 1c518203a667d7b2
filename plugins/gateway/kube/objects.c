/*
 * objects.c - the Kubernetes objects of a workspace, made and read: the
 * StatefulSet from its template, the Secrets, the labels that mark them
 * as this gateway's, and what status and list read back from the API's
 * answers.  Pure functions on names and JSON, so they are unit tested
 * without a server.
 */
#include "kube.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

int kube_object_name(const char *prefix, const char *name, char *out, size_t outlen,
		char *why, size_t whylen) {
	size_t n = strlen(prefix) + strlen(name);

	if (n > KUBE_OBJECT_MAX || n >= outlen) {
		size_t room = strlen(prefix) < KUBE_OBJECT_MAX ? KUBE_OBJECT_MAX - strlen(prefix) : 0;
		snprintf(why, whylen, "workspace name '%s' is too long for Kubernetes (at most %zu "
			"characters with the prefix '%s')", name, room, prefix);
		return -1;
	}
	snprintf(out, outlen, "%s%s", prefix, name);
	return 0;
}

static size_t count(const char *text, const char *word) {
	size_t n = 0;
	for (const char *p = strstr(text, word); p != NULL; p = strstr(p + strlen(word), word)) {
		n++;
	}
	return n;
}

char *kube_substitute(const char *text, const char *object, const char *name) {
	size_t n_obj = count(text, "__OBJECT__"), n_name = count(text, "__NAME__");
	size_t size = strlen(text) + n_obj * strlen(object) + n_name * strlen(name) + 1;
	char *out = malloc(size), *o = out;
	const char *p = text;

	if (out == NULL) {
		return NULL;
	}
	while (*p) {
		if (strncmp(p, "__OBJECT__", 10) == 0) {
			o += sprintf(o, "%s", object);
			p += 10;
		} else if (strncmp(p, "__NAME__", 8) == 0) {
			o += sprintf(o, "%s", name);
			p += 8;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

static cJSON *object_at(cJSON *parent, const char *key) {
	cJSON *c = cJSON_GetObjectItemCaseSensitive(parent, key);
	if (c == NULL) {
		c = cJSON_AddObjectToObject(parent, key);
	}
	return cJSON_IsObject(c) ? c : NULL;
}

static int set_string(cJSON *obj, const char *key, const char *value) {
	/* one member at most: kube_statefulset refuses a template that repeats
	 * a key, and the backend's own objects never do */
	cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
	return cJSON_AddStringToObject(obj, key, value) != NULL ? 0 : -1;
}

int kube_set_labels(cJSON *metadata, const char *managed, const char *name) {
	cJSON *labels = object_at(metadata, "labels");

	if (labels == NULL) {
		return -1;
	}
	return set_string(labels, KUBE_LABEL_MANAGED_BY, KUBE_MANAGED_BY) == 0
		&& set_string(labels, KUBE_LABEL_GATEWAY, managed) == 0
		&& set_string(labels, KUBE_LABEL_WORKSPACE, name) == 0 ? 0 : -1;
}

/* The first key an object repeats, anywhere in node, or NULL.  Such a
 * text means two things: cJSON reads the first value, the API server the
 * last, so labels set here could be what the server never sees. */
static const char *repeated_key(const cJSON *node) {
	const cJSON *c, *d;
	const char *found;

	/* the check is quadratic in an object's size: no template needs more */
	if (cJSON_IsObject(node) && cJSON_GetArraySize(node) > 1024) {
		return "(one of more than 1024 in one object)";
	}
	cJSON_ArrayForEach(c, node) {
		if (cJSON_IsObject(node)) {
			for (d = c->next; d != NULL; d = d->next) {
				if (strcmp(c->string, d->string) == 0) {
					return c->string;
				}
			}
		}
		if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && (found = repeated_key(c)) != NULL) {
			return found;
		}
	}
	return NULL;
}

cJSON *kube_statefulset(const char *template_text, const char *object, const char *name,
		const char *managed, char *why, size_t whylen) {
	char *text = kube_substitute(template_text, object, name);
	cJSON *sts, *meta, *spec, *tmpl, *claims, *claim;
	const char *repeated;

	if (text == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	sts = cJSON_Parse(text);
	free(text);
	if (!cJSON_IsObject(sts)) {
		snprintf(why, whylen, "the template is not a JSON object");
		cJSON_Delete(sts);
		return NULL;
	}
	if ((repeated = repeated_key(sts)) != NULL) {
		snprintf(why, whylen, "the template repeats the key '%.60s'", repeated);
		cJSON_Delete(sts);
		return NULL;
	}
	if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(sts, "kind"))
			|| strcmp(cJSON_GetObjectItemCaseSensitive(sts, "kind")->valuestring,
				"StatefulSet") != 0) {
		snprintf(why, whylen, "the template is not a StatefulSet");
		cJSON_Delete(sts);
		return NULL;
	}
	meta = object_at(sts, "metadata");
	spec = object_at(sts, "spec");
	tmpl = spec ? object_at(spec, "template") : NULL;
	if (meta == NULL || spec == NULL || tmpl == NULL || object_at(tmpl, "metadata") == NULL) {
		snprintf(why, whylen, "the template's metadata or spec.template is not an object");
		cJSON_Delete(sts);
		return NULL;
	}
	/* what identifies an existing object is the server's, never a template's */
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "namespace");
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "resourceVersion");
	cJSON_DeleteItemFromObjectCaseSensitive(meta, "uid");
	set_string(meta, "name", object);
	cJSON_DeleteItemFromObjectCaseSensitive(spec, "replicas");
	cJSON_AddNumberToObject(spec, "replicas", 0);
	/* the pods and the home claim carry the labels too: delete finds the
	 * claim by them, and a pod says whose it is */
	if (kube_set_labels(meta, managed, name) != 0
			|| kube_set_labels(object_at(tmpl, "metadata"), managed, name) != 0) {
		snprintf(why, whylen, "the template's labels are not an object");
		cJSON_Delete(sts);
		return NULL;
	}
	claims = cJSON_GetObjectItemCaseSensitive(spec, "volumeClaimTemplates");
	cJSON_ArrayForEach(claim, claims) {
		cJSON *cmeta = cJSON_IsObject(claim) ? object_at(claim, "metadata") : NULL;
		if (cmeta == NULL || kube_set_labels(cmeta, managed, name) != 0) {
			snprintf(why, whylen, "the template's volumeClaimTemplates are not objects");
			cJSON_Delete(sts);
			return NULL;
		}
	}
	return sts;
}

char *kube_base64(const unsigned char *data, size_t len) {
	static const char digits[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	if (out == NULL) {
		return NULL;
	}
	for (i = 0; i + 2 < len; i += 3) {
		unsigned long v = (unsigned long)data[i] << 16 | (unsigned long)data[i + 1] << 8
			| data[i + 2];
		*o++ = digits[v >> 18 & 63];
		*o++ = digits[v >> 12 & 63];
		*o++ = digits[v >> 6 & 63];
		*o++ = digits[v & 63];
	}
	if (i < len) {
		unsigned long v = (unsigned long)data[i] << 16
			| (i + 1 < len ? (unsigned long)data[i + 1] << 8 : 0);
		*o++ = digits[v >> 18 & 63];
		*o++ = digits[v >> 12 & 63];
		*o++ = i + 1 < len ? digits[v >> 6 & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

cJSON *kube_owner_refs(const char *object, const char *sts_uid) {
	cJSON *owners = cJSON_CreateArray(), *owner = cJSON_CreateObject();

	if (owners == NULL || owner == NULL) {
		cJSON_Delete(owners);
		cJSON_Delete(owner);
		return NULL;
	}
	cJSON_AddItemToArray(owners, owner);
	cJSON_AddStringToObject(owner, "apiVersion", "apps/v1");
	cJSON_AddStringToObject(owner, "kind", "StatefulSet");
	cJSON_AddStringToObject(owner, "name", object);
	cJSON_AddStringToObject(owner, "uid", sts_uid);
	cJSON_AddFalseToObject(owner, "controller");
	cJSON_AddFalseToObject(owner, "blockOwnerDeletion");
	return owners;
}

cJSON *kube_secret(const char *object, const char *suffix, const char *key,
		const unsigned char *data, size_t len, const char *managed, const char *name,
		const char *sts_uid) {
	cJSON *s = cJSON_CreateObject(), *meta, *owners, *d;
	char sname[128], *b64 = kube_base64(data, len);

	snprintf(sname, sizeof(sname), "%s-%s", object, suffix);
	if (s == NULL || b64 == NULL) {
		goto fail;
	}
	cJSON_AddStringToObject(s, "apiVersion", "v1");
	cJSON_AddStringToObject(s, "kind", "Secret");
	meta = cJSON_AddObjectToObject(s, "metadata");
	if (meta == NULL) {
		goto fail;
	}
	cJSON_AddStringToObject(meta, "name", sname);
	if (kube_set_labels(meta, managed, name) != 0) {
		goto fail;
	}
	/* deleting the StatefulSet deletes them: the backend never deletes a Secret */
	if ((owners = kube_owner_refs(object, sts_uid)) == NULL) {
		goto fail;
	}
	cJSON_AddItemToObject(meta, "ownerReferences", owners);
	cJSON_AddStringToObject(s, "type", "Opaque");
	d = cJSON_AddObjectToObject(s, "data");
	if (d == NULL || cJSON_AddStringToObject(d, key, b64) == NULL) {
		goto fail;
	}
	free(b64);
	return s;
fail:
	free(b64);
	cJSON_Delete(s);
	return NULL;
}

static const cJSON *at(const cJSON *obj, const char *key) {
	return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

const char *kube_meta_string(const cJSON *obj, const char *field) {
	const cJSON *v = at(at(obj, "metadata"), field);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *label(const cJSON *obj, const char *key) {
	const cJSON *v = at(at(at(obj, "metadata"), "labels"), key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

int kube_is_ours(const cJSON *obj, const char *managed) {
	const char *v = label(obj, KUBE_LABEL_GATEWAY);
	return v != NULL && strcmp(v, managed) == 0;
}

int kube_pod_is_ours(const cJSON *pod, const char *managed, const char *sts_uid) {
	const cJSON *ref;

	if (!kube_is_ours(pod, managed)) {
		return 0;
	}
	cJSON_ArrayForEach(ref, at(at(pod, "metadata"), "ownerReferences")) {
		const cJSON *kind = at(ref, "kind"), *uid = at(ref, "uid");
		if (cJSON_IsString(kind) && strcmp(kind->valuestring, "StatefulSet") == 0
				&& cJSON_IsString(uid) && strcmp(uid->valuestring, sts_uid) == 0) {
			return 1;
		}
	}
	return 0;
}

int kube_replicas(const cJSON *sts) {
	const cJSON *r = at(at(sts, "spec"), "replicas");
	if (r == NULL || cJSON_IsNull(r)) {
		return 1;
	}
	return cJSON_IsNumber(r) && r->valuedouble >= 0 && r->valuedouble < 1e6 ? r->valueint : 0;
}

static const cJSON *named(const cJSON *array, const char *name) {
	const cJSON *item;
	cJSON_ArrayForEach(item, array) {
		const cJSON *n = at(item, "name");
		if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0) {
			return item;
		}
	}
	return NULL;
}

unsigned int kube_ssh_port(const cJSON *sts) {
	const cJSON *c = named(at(at(at(at(sts, "spec"), "template"), "spec"), "containers"),
		"workspace");
	const cJSON *p = at(named(at(c, "ports"), "ssh"), "containerPort");

	if (cJSON_IsNumber(p) && p->valuedouble >= 1 && p->valuedouble <= 65535) {
		return (unsigned int)p->valueint;
	}
	return KUBE_DEFAULT_SSH_PORT;
}

static const cJSON *condition(const cJSON *pod, const char *type) {
	const cJSON *c;
	cJSON_ArrayForEach(c, at(at(pod, "status"), "conditions")) {
		const cJSON *t = at(c, "type");
		if (cJSON_IsString(t) && strcmp(t->valuestring, type) == 0) {
			return c;
		}
	}
	return NULL;
}

static int is_true(const cJSON *cond) {
	const cJSON *s = at(cond, "status");
	return cJSON_IsString(s) && strcmp(s->valuestring, "True") == 0;
}

int kube_pod_running(const cJSON *pod, char *ip, size_t iplen) {
	const cJSON *podip = at(at(pod, "status"), "podIP");
	const cJSON *deleting = at(at(pod, "metadata"), "deletionTimestamp");

	if (!cJSON_IsObject(pod) || (deleting != NULL && !cJSON_IsNull(deleting))
			|| !is_true(condition(pod, "Ready")) || !cJSON_IsString(podip)
			|| podip->valuestring[0] == '\0' || strlen(podip->valuestring) >= iplen
			|| strspn(podip->valuestring, "0123456789abcdefABCDEF.:")
				!= strlen(podip->valuestring)) {
		return 0;
	}
	strcpy(ip, podip->valuestring);
	return 1;
}

/* Text from the API, quoted in one line: printable, capped. */
static void clean(char *out, size_t outlen, const char *text) {
	size_t i;
	for (i = 0; text[i] && i + 1 < outlen && i < KUBE_MESSAGE_MAX; i++) {
		unsigned char c = (unsigned char)text[i];
		out[i] = c < ' ' || c == 0x7f ? ' ' : (char)c;
	}
	out[i] = '\0';
}

void kube_pod_why(const cJSON *pod, char *why, size_t whylen) {
	const cJSON *st, *sched, *phase;
	char a[KUBE_MESSAGE_MAX + 1], b[KUBE_MESSAGE_MAX + 1];

	if (!cJSON_IsObject(pod)) {
		snprintf(why, whylen, "no pod");
		return;
	}
	if (kube_meta_string(pod, "deletionTimestamp") != NULL) {
		snprintf(why, whylen, "the pod is being deleted");
		return;
	}
	cJSON_ArrayForEach(st, at(at(pod, "status"), "containerStatuses")) {
		const cJSON *w = at(at(st, "state"), "waiting");
		const cJSON *reason = at(w, "reason"), *message = at(w, "message");
		if (cJSON_IsString(reason)) {
			clean(a, sizeof(a), reason->valuestring);
			clean(b, sizeof(b), cJSON_IsString(message) ? message->valuestring : "");
			snprintf(why, whylen, "%s%s%s", a, b[0] ? ": " : "", b);
			return;
		}
	}
	sched = condition(pod, "PodScheduled");
	if (sched != NULL && !is_true(sched) && cJSON_IsString(at(sched, "message"))) {
		clean(a, sizeof(a), at(sched, "message")->valuestring);
		snprintf(why, whylen, "not scheduled: %s", a);
		return;
	}
	phase = at(at(pod, "status"), "phase");
	clean(a, sizeof(a), cJSON_IsString(phase) ? phase->valuestring : "unknown");
	snprintf(why, whylen, "phase %s, not Ready", a);
}

int kube_list_items(const cJSON *list, const char *prefix, const char *managed,
		void (*fn)(void *arg, const char *name, int running), void *arg) {
	const cJSON *items = at(list, "items"), *item;
	int n = 0;

	if (!cJSON_IsArray(items)) {
		return -1;
	}
	cJSON_ArrayForEach(item, items) {
		const char *name = label(item, KUBE_LABEL_WORKSPACE);
		const char *object = kube_meta_string(item, "name");
		size_t plen = strlen(prefix);

		/* the label selector chose them; a list answer is checked all the same */
		if (!kube_is_ours(item, managed) || name == NULL || !ws_gw_name_valid(name)
				|| object == NULL || strncmp(object, prefix, plen) != 0
				|| strcmp(object + plen, name) != 0) {
			continue;
		}
		fn(arg, name, kube_replicas(item) >= 1);
		n++;
	}
	return n;
}

cJSON *kube_patch_new(const char *managed) {
	cJSON *patch = cJSON_CreateArray();
	/* the server applies all of it or none: nothing changes on an object
	 * that is not ours, even one relabelled since we looked */
	kube_patch_add(patch, "test", "/metadata/labels/ssh-workspace~1gateway",
		cJSON_CreateString(managed));
	return patch;
}

void kube_patch_add(cJSON *patch, const char *op, const char *path, cJSON *value) {
	cJSON *o = cJSON_CreateObject();

	if (patch == NULL || o == NULL) {
		cJSON_Delete(o);
		cJSON_Delete(value);
		return;
	}
	cJSON_AddStringToObject(o, "op", op);
	cJSON_AddStringToObject(o, "path", path);
	cJSON_AddItemToObject(o, "value", value);
	cJSON_AddItemToArray(patch, o);
}
