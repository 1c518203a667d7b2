/*
 * fuzz_kube.c - what ws-gateway-kube reads from the API server: WebSocket
 * frames, StatefulSet lists, pods, Status bodies, the activity script's
 * output, and the templates it is given.
 * Input: one byte that picks the parser, then its input.
 */
#include "fuzz.h"

#include <string.h>

#include "gateway.h"
#include "kube.h"

static void frames(const uint8_t *data, size_t size) {
	const size_t cap = 4096;
	char why[256];

	while (size > 0) {
		struct ws_frame f;
		long used = ws_frame_parse(data, size, cap, &f, why, sizeof(why));
		if (used <= 0) {
			return;
		}
		FUZZ_ASSERT((size_t)used <= size && f.len <= cap && f.len <= (size_t)used);
		FUZZ_ASSERT(f.payload >= data && f.payload + f.len == data + used);
		FUZZ_ASSERT(f.opcode <= 2 || (f.opcode >= 8 && f.opcode <= 10 && f.len <= 125));
		data += used;
		size -= (size_t)used;
	}
}

static void one_name(void *arg, const char *name, int running) {
	int *n = arg;
	FUZZ_ASSERT(ws_gw_name_valid(name));
	FUZZ_ASSERT(running == 0 || running == 1);
	(*n)++;
}

static void printable(const char *s) {
	for (; *s; s++) {
		FUZZ_ASSERT((unsigned char)*s >= ' ' && *s != 0x7f);
	}
}

static void documents(int which, const char *text, size_t len) {
	cJSON *doc = cJSON_ParseWithLength(text, len);
	char ip[64], why[300];
	int n = 0, reported;

	if (which == 1) {
		reported = kube_list_items(doc, "ws-", "gw", one_name, &n);
		FUZZ_ASSERT(reported == -1 || reported == n);
	} else if (which == 2) {
		if (kube_pod_running(doc, ip, sizeof(ip))) {
			FUZZ_ASSERT(ip[0] != '\0' && strspn(ip, "0123456789abcdefABCDEF.:") == strlen(ip));
		}
		kube_pod_why(doc, why, sizeof(why));
		printable(why);
		FUZZ_ASSERT(kube_ssh_port(doc) >= 1 && kube_ssh_port(doc) <= 65535);
	}
	cJSON_Delete(doc);
}

static void template(const char *text) {
	char why[256];
	cJSON *sts = kube_statefulset(text, "ws-alice", "alice", "gw", why, sizeof(why));

	if (sts != NULL) {
		FUZZ_ASSERT(strcmp(kube_meta_string(sts, "name"), "ws-alice") == 0);
		FUZZ_ASSERT(kube_meta_string(sts, "namespace") == NULL);
		FUZZ_ASSERT(kube_replicas(sts) == 0 && kube_is_ours(sts, "gw"));
		cJSON_Delete(sts);
	}
}

static void status_body(const char *text, size_t len) {
	static const char token[] = "tok3n-Secret";
	char out[600];

	kube_error_text(out, sizeof(out), "GET", "pods", "ws-a-0", 403, text, len, token);
	printable(out);
	FUZZ_ASSERT(strstr(out, token) == NULL);
	FUZZ_ASSERT(strlen(out) <= strlen("GET pods/ws-a-0: 403 Forbidden: ") + KUBE_MESSAGE_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	char *text;

	if (size < 1) {
		return 0;
	}
	if (data[0] % 6 == 0) {
		frames(data + 1, size - 1);
		return 0;
	}
	if (data[0] % 6 == 5) {
		int64_t v = kube_activity_parse((const char *)data + 1, size - 1, 42);
		FUZZ_ASSERT(v >= 0);
		return 0;
	}
	/* the JSON parsers take text (NUL-terminated, as a response body is) */
	if ((text = malloc(size)) == NULL) {
		return 0;
	}
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	switch (data[0] % 6) {
	case 1:
	case 2:
		documents(data[0] % 6, text, size - 1);
		break;
	case 3:
		template(text);
		break;
	default:
		status_body(text, size - 1);
		break;
	}
	free(text);
	return 0;
}
