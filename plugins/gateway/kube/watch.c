/*
 * watch.c - `start` waits for the workspace's pod to be Ready: a GET,
 * then a watch from that resourceVersion (without one while there is no
 * pod: such a watch begins with the pods there are, as ADDED), so the wait
 * costs one request and the answer comes the moment the pod is Ready.  A watch can end at
 * any time (its timeout, a restarted API server, 410 Gone when the
 * version is too old): then GET and watch again, never faster than once
 * a second, all within WS_KUBE_READY_TIMEOUT.
 */
#include "kube.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* At most this long for the look after the wait (the reason it failed),
 * and this much left after it for the caller (a stop). */
#define KUBE_LAST_LOOK_S 4
#define KUBE_AFTER_WAIT_S 4

static double now_s(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s) {
	struct timespec ts;
	if (s <= 0) {
		return;
	}
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

struct waiter {
	cJSON *pod;     /* the pod as last seen (NULL: none), for the timeout's why */
	int ready;
	const char *managed, *sts_uid; /* whose pod counts */
};

/* A pod of that name that is not ours (made meanwhile by someone else)
 * never counts as Ready: the gateway would hand it a user's jump. */
static void seen(struct waiter *w, cJSON *pod) {
	char ip[64];
	cJSON_Delete(w->pod);
	w->pod = pod;
	w->ready = pod != NULL && kube_pod_is_ours(pod, w->managed, w->sts_uid)
		&& kube_pod_running(pod, ip, sizeof(ip));
}

/* One event of the watch: {"type": ..., "object": ...} on a line. */
static int event(void *arg, const char *line, size_t len) {
	struct waiter *w = arg;
	cJSON *ev = cJSON_ParseWithLength(line, len), *obj;
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
	int rc = 0;

	if (len == 0 || (len == 1 && line[0] == '\r')) {
		cJSON_Delete(ev);
		return 0;
	}
	if (!cJSON_IsString(type)) {
		cJSON_Delete(ev);
		return -1;
	}
	if (strcmp(type->valuestring, "ADDED") == 0 || strcmp(type->valuestring, "MODIFIED") == 0) {
		obj = cJSON_DetachItemFromObjectCaseSensitive(ev, "object");
		seen(w, obj);
		rc = w->ready ? 1 : 0;
	} else if (strcmp(type->valuestring, "DELETED") == 0) {
		seen(w, NULL);
	} else if (strcmp(type->valuestring, "ERROR") == 0) {
		/* e.g. 410 Gone: the version is too old; start again from a GET */
		rc = -1;
	}
	cJSON_Delete(ev);
	return rc;
}

/* The pod now, and the resourceVersion to watch from ("" when there is
 * no pod: a watch without one begins with what is there, as ADDED
 * events, so nothing made in between is missed).  0, or -1 with why. */
static int look(struct kube *k, const char *pod_name, struct waiter *w, char *rv, size_t rvlen,
		char *why, size_t whylen) {
	struct kube_resp r;
	cJSON *doc;
	const char *v;

	if (kube_call(k, REQ_GET_POD, pod_name, NULL, NULL, &r, why, whylen) != 0) {
		return -1;
	}
	if (r.status == 404) {
		kube_resp_free(&r);
		seen(w, NULL);
		rv[0] = '\0';
		return 0;
	}
	if (r.status != 200) {
		kube_fail_resp(k, REQ_GET_POD, pod_name, &r, why, whylen);
		kube_resp_free(&r);
		return -1;
	}
	doc = cJSON_ParseWithLength(r.body, r.len);
	kube_resp_free(&r);
	v = kube_meta_string(doc, "resourceVersion");
	if (v == NULL || v[0] == '\0' || strlen(v) >= rvlen || strspn(v, "0123456789") != strlen(v)) {
		snprintf(why, whylen, "GET pods/%s: no resourceVersion in the answer", pod_name);
		cJSON_Delete(doc);
		return -1;
	}
	strcpy(rv, v);
	seen(w, doc);
	return 0;
}

int kube_wait_ready(struct kube *k, const char *object, const char *sts_uid, char *why,
		size_t whylen) {
	char pod_name[160], selector[256], query[400], rv[64];
	struct waiter w = { NULL, 0, k->managed, sts_uid };
	double deadline = now_s() + k->ready_timeout, last_watch = 0, end;
	long long command_end = k->deadline_ms;
	int rc, last_look = 0;

	snprintf(pod_name, sizeof(pod_name), "%s-0", object);
	snprintf(selector, sizeof(selector), "fieldSelector=metadata.name%%3D%s", pod_name);
	/* the wait ends early enough for the last look and a stop after it
	 * within the command's time */
	if (command_end != 0) {
		end = now_s() + (double)(command_end - kube_now_ms()) / 1000 - KUBE_LAST_LOOK_S
			- KUBE_AFTER_WAIT_S;
		deadline = end < deadline ? end : deadline;
	}
	for (;;) {
		double left;

		if (last_watch > 0) {
			/* a watch that ends at once must not become a busy loop */
			sleep_s(last_watch + 1 - now_s());
		}
		last_look = deadline - now_s() <= 0;
		if (last_look && command_end != 0) {
			/* the look for the reason may not take the stop's time */
			k->deadline_ms = kube_now_ms() + KUBE_LAST_LOOK_S * 1000;
			k->deadline_ms = k->deadline_ms < command_end ? k->deadline_ms : command_end;
		}
		rc = look(k, pod_name, &w, rv, sizeof(rv), why, whylen);
		k->deadline_ms = command_end;
		if (rc != 0 && !last_look) {
			break;
		}
		if (rc == 0 && w.ready) {
			break;
		}
		left = deadline - now_s();
		if (last_look || left <= 0) {
			/* the pod as last seen, if this look could not see it */
			char what[400];
			kube_pod_why(w.pod, what, sizeof(what));
			snprintf(why, whylen, "pod %s not Ready after %u s: %s", pod_name,
				k->ready_timeout, what);
			rc = -1;
			break;
		}
		/* the server ends the watch at its timeoutSeconds (whole seconds),
		 * libcurl at the deadline itself if the server does not */
		snprintf(query, sizeof(query), "%s&watch=1%s%s&timeoutSeconds=%u", selector,
			rv[0] ? "&resourceVersion=" : "", rv, (unsigned int)left + 1);
		last_watch = now_s();
		rc = kube_watch(k, REQ_WATCH_POD, query, (unsigned int)(left * 1000) + 1, event, &w,
			why, whylen);
		if (rc == 0 && w.ready) {
			break;
		}
		if (rc < 0) {
			break;
		}
	}
	cJSON_Delete(w.pod);
	return rc;
}
