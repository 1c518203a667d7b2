/*
 * list.c - `list`: the StatefulSets with this gateway's label, page by
 * page (the server's continue token), each one that is a workspace of
 * this gateway printed as `NAME running` or `NAME stopped`.
 */
#include "kube.h"

#include <stdio.h>
#include <string.h>

static void print_item(void *arg, const char *name, int running) {
	(void)arg;
	printf("%s %s\n", name, running ? "running" : "stopped");
}

/* A continue token in a query (the server's, opaque). */
static int escape(const char *in, char *out, size_t outlen) {
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (; *in; in++) {
		unsigned char c = (unsigned char)*in;
		if (o + 4 > outlen) {
			return -1;
		}
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
				|| c == '-' || c == '_' || c == '.' || c == '~') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

int kube_list(struct kube *k, char *why, size_t whylen) {
	char query[1400], cont[1024] = "";
	struct kube_resp r;
	cJSON *doc;
	int page;

	for (page = 0; page < 1000; page++) {
		const cJSON *meta, *next;
		snprintf(query, sizeof(query), "labelSelector=ssh-workspace%%2Fgateway%%3D%s&limit=%d%s%s",
			k->managed, KUBE_LIST_LIMIT, cont[0] ? "&continue=" : "", cont);
		if (kube_call(k, REQ_LIST_STS, NULL, query, NULL, &r, why, whylen) != 0) {
			return -1;
		}
		if (r.status != 200) {
			kube_fail_resp(k, REQ_LIST_STS, NULL, &r, why, whylen);
			kube_resp_free(&r);
			return -1;
		}
		doc = cJSON_ParseWithLength(r.body, r.len);
		kube_resp_free(&r);
		if (kube_list_items(doc, k->prefix, k->managed, print_item, NULL) < 0) {
			snprintf(why, whylen, "GET statefulsets: the answer is not a list");
			cJSON_Delete(doc);
			return -1;
		}
		meta = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
		next = cJSON_GetObjectItemCaseSensitive(meta, "continue");
		if (!cJSON_IsString(next) || next->valuestring[0] == '\0') {
			cJSON_Delete(doc);
			return 0;
		}
		if (escape(next->valuestring, cont, sizeof(cont)) != 0) {
			snprintf(why, whylen, "GET statefulsets: the continue token is too long");
			cJSON_Delete(doc);
			return -1;
		}
		cJSON_Delete(doc);
	}
	snprintf(why, whylen, "GET statefulsets: more than 1000 pages");
	return -1;
}
