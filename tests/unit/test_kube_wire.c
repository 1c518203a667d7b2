/*
 * test_kube_wire.c - ws-gateway-kube on the wire: WebSocket frames
 * (wsframe.c), the request paths and error lines (api.c), the activity
 * answer, and the settings from the environment (env.c).
 */
#define _DEFAULT_SOURCE /* setenv */
#include "unit.h"

#include <stdlib.h>

#include "kube.h"

/* A server frame: FIN, opcode, the length in its shortest form. */
static size_t server_frame(unsigned char *out, int opcode, const unsigned char *payload,
		size_t len) {
	size_t h = 2;
	out[0] = (unsigned char)(0x80 | opcode);
	if (len <= 125) {
		out[1] = (unsigned char)len;
	} else if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (unsigned char)(len >> 8);
		out[3] = (unsigned char)len;
		h = 4;
	} else {
		int i;
		out[1] = 127;
		for (i = 0; i < 8; i++) {
			out[2 + i] = (unsigned char)((unsigned long long)len >> (56 - 8 * i));
		}
		h = 10;
	}
	memcpy(out + h, payload, len);
	return h + len;
}

static void test_frames_of_each_length_form_parse(void) {
	static unsigned char buf[70000 + 16], payload[70000];
	size_t sizes[] = { 0, 1, 125, 126, 300, 65535, 65536, 70000 }, i;
	char why[200];

	for (i = 0; i < sizeof(payload); i++) {
		payload[i] = (unsigned char)(i * 7);
	}
	payload[0] = 1; /* the channel: stdout */
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct ws_frame f = { 0 };
		size_t n = server_frame(buf, 2, payload, sizes[i]);
		long used = ws_frame_parse(buf, n, sizeof(payload), &f, why, sizeof(why));
		CHECK(used == (long)n);
		CHECK(f.fin == 1 && f.opcode == 2 && f.len == sizes[i]);
		CHECK(f.len == 0 || (f.payload[0] == 1 && memcmp(f.payload, payload, f.len) == 0));
		/* a frame cut anywhere is "more bytes, please", never a frame */
		CHECK(ws_frame_parse(buf, n - 1, sizeof(payload), &f, why, sizeof(why)) == 0 || n == 0);
		CHECK(ws_frame_parse(buf, 1, sizeof(payload), &f, why, sizeof(why)) == 0);
	}
	/* 126 and 127 forms need their extended length first */
	buf[0] = 0x82;
	buf[1] = 126;
	CHECK(ws_frame_parse(buf, 3, 100, NULL, why, sizeof(why)) == 0);
	buf[1] = 127;
	CHECK(ws_frame_parse(buf, 9, 100, NULL, why, sizeof(why)) == 0);
}

static void test_frames_carry_their_channel_and_the_close(void) {
	unsigned char buf[64], p[] = { 3, '{', '}' }, code[] = { 0x03, 0xe8 };
	struct ws_frame f;
	char why[200];
	size_t n = server_frame(buf, 2, p, sizeof(p));

	n += server_frame(buf + n, 8, code, sizeof(code));
	CHECK(ws_frame_parse(buf, n, 1000, &f, why, sizeof(why)) == 5);
	CHECK(f.payload[0] == 3 && f.len == 3);
	CHECK(ws_frame_parse(buf + 5, n - 5, 1000, &f, why, sizeof(why)) == 4);
	CHECK(f.opcode == 8 && f.len == 2 && f.payload[0] == 0x03 && f.payload[1] == 0xe8);
}

static void test_frames_past_the_cap_or_malformed_are_refused(void) {
	static unsigned char buf[300], xs[200];
	unsigned char big[10] = { 0x82, 127, 0, 0, 0, 1, 0, 0, 0, 0 };
	unsigned char top[10] = { 0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1 };
	struct ws_frame f;
	char why[200] = "";
	size_t n;

	memset(xs, 'x', sizeof(xs));
	n = server_frame(buf, 2, xs, sizeof(xs));
	CHECK(ws_frame_parse(buf, n, 199, &f, why, sizeof(why)) == -1);
	CHECK_CONTAINS(why, "200 bytes (at most 199)");
	/* refused from its header alone: nothing of it is buffered */
	CHECK(ws_frame_parse(big, sizeof(big), 65536, &f, why, sizeof(why)) == -1);
	CHECK_CONTAINS(why, "4294967296 bytes");
	CHECK(ws_frame_parse(top, sizeof(top), 65536, &f, why, sizeof(why)) == -1);
	buf[0] = 0x82;
	buf[1] = 0x85; /* masked: only clients mask */
	CHECK(ws_frame_parse(buf, 20, 1000, &f, why, sizeof(why)) == -1);
	CHECK_CONTAINS(why, "masked");
	buf[0] = 0xc2; /* RSV1 */
	buf[1] = 1;
	CHECK(ws_frame_parse(buf, 20, 1000, &f, why, sizeof(why)) == -1);
	buf[0] = 0x08; /* a fragmented close */
	CHECK(ws_frame_parse(buf, 20, 1000, &f, why, sizeof(why)) == -1);
	buf[0] = 0x89; /* a ping of 126 bytes */
	buf[1] = 126;
	buf[2] = 0;
	buf[3] = 126;
	CHECK(ws_frame_parse(buf, 200, 1000, &f, why, sizeof(why)) == -1);
	buf[0] = 0x83; /* a reserved opcode */
	buf[1] = 0;
	CHECK(ws_frame_parse(buf, 20, 1000, &f, why, sizeof(why)) == -1);
}

static void test_client_frames_are_masked(void) {
	unsigned char out[16], mask[4] = { 1, 2, 3, 4 }, code[2] = { 0x03, 0xe8 };
	size_t n = ws_client_frame(8, code, 2, mask, out, sizeof(out));

	CHECK(n == 8);
	CHECK(out[0] == 0x88 && out[1] == (0x80 | 2));
	CHECK(memcmp(out + 2, mask, 4) == 0);
	CHECK((out[6] ^ 1) == 0x03 && (out[7] ^ 2) == 0xe8);
	CHECK(ws_client_frame(8, code, 2, mask, out, 7) == 0);
}

static void test_accept_of_the_rfc_example(void) {
	char accept[64];
	CHECK(ws_accept_for("dGhlIHNhbXBsZSBub25jZQ==", accept, sizeof(accept)) == 0);
	CHECK_STR(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_activity_answer(void) {
	const char *two = "{\"session\":\"a\",\"last_activity_ms\":1700000000123}\n"
		"{\"last_activity_ms\": 1700000999456,\"x\":1}\n{\"last_activity_ms\":}\n";
	const char *huge = "{\"last_activity_ms\":99999999999999999999999}";

	CHECK(kube_activity_parse(two, strlen(two), 5) == 1700000999456LL);
	CHECK(kube_activity_parse("hold\n", 5, 1234567) == 1234567);
	CHECK(kube_activity_parse("", 0, 5) == 0);
	CHECK(kube_activity_parse("holder\n", 7, 5) == 0);
	CHECK(kube_activity_parse(huge, strlen(huge), 5) == 0);
}

static void test_error_lines_quote_the_status_message_cut_and_without_the_token(void) {
	char out[600], body[1200], message[400];
	const char *forbidden = "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":"
		"\"statefulsets.apps \\\"ws-alice\\\" is forbidden: User \\\"x\\\" cannot patch\","
		"\"reason\":\"Forbidden\",\"code\":403}";

	kube_error_text(out, sizeof(out), "PATCH", "statefulsets", "ws-alice", 403, forbidden,
		strlen(forbidden), "tok");
	CHECK_STR(out, "PATCH statefulsets/ws-alice: 403 Forbidden: statefulsets.apps \"ws-alice\" "
		"is forbidden: User \"x\" cannot patch");
	kube_error_text(out, sizeof(out), "GET", "statefulsets", NULL, 500, "<html>", 6, "tok");
	CHECK_STR(out, "GET statefulsets: 500 Internal Server Error");
	memset(message, 'm', 300);
	message[300] = '\0';
	snprintf(body, sizeof(body), "{\"message\":\"a\\nb%s\"}", message);
	kube_error_text(out, sizeof(out), "POST", "secrets", NULL, 422, body, strlen(body), "tok");
	CHECK(strncmp(out, "POST secrets: 422 Unprocessable Entity: a b", 43) == 0);
	CHECK(strlen(out) == strlen("POST secrets: 422 Unprocessable Entity: ") + 200);
	snprintf(body, sizeof(body), "{\"message\":\"bad token eyJhbGciOiJSUzI1NiJ9.secret here\"}");
	kube_error_text(out, sizeof(out), "GET", "pods", "ws-a-0", 401, body, strlen(body),
		"eyJhbGciOiJSUzI1NiJ9.secret");
	CHECK_STR(out, "GET pods/ws-a-0: 401 Unauthorized: bad token *** here");
	/* cut in the middle of the token: its start goes too */
	snprintf(body, sizeof(body), "{\"message\":\"%.*seyJhbGciOiJSUzI1NiJ9.sec\"}", 178,
		message);
	kube_error_text(out, sizeof(out), "GET", "pods", NULL, 401, body, strlen(body),
		"eyJhbGciOiJSUzI1NiJ9.secret-and-more-of-it");
	CHECK(strstr(out, "eyJhbGciOiJS") == NULL);
	CHECK_CONTAINS(out, "mmm***");
}

static void test_paths_come_from_the_request_table(void) {
	struct kube k;
	char path[512];

	memset(&k, 0, sizeof(k));
	strcpy(k.ns, "ns1");
	CHECK(kube_path(&k, REQ_GET_STS, "ws-a", NULL, path, sizeof(path)) == 0);
	CHECK_STR(path, "/apis/apps/v1/namespaces/ns1/statefulsets/ws-a");
	CHECK(kube_path(&k, REQ_LIST_STS, "ignored", "limit=500", path, sizeof(path)) == 0);
	CHECK_STR(path, "/apis/apps/v1/namespaces/ns1/statefulsets?limit=500");
	CHECK(kube_path(&k, REQ_EXEC_POD, "ws-a-0", "container=workspace", path, sizeof(path)) == 0);
	CHECK_STR(path, "/api/v1/namespaces/ns1/pods/ws-a-0/exec?container=workspace");
	CHECK(kube_path(&k, REQ_DELETE_PVC, "home-ws-a-0", NULL, path, sizeof(path)) == 0);
	CHECK_STR(path, "/api/v1/namespaces/ns1/persistentvolumeclaims/home-ws-a-0");
	CHECK(kube_path(&k, REQ_GET_POD, "ws-a-0", NULL, path, 10) == -1);
	/* the exec needs both verbs: create since Kubernetes 1.30, get before */
	CHECK_STR(kube_requests[REQ_EXEC_POD].verbs[0], "create");
	CHECK_STR(kube_requests[REQ_EXEC_POD].verbs[1], "get");
}

static void clear_env(void) {
	static const char *vars[] = { "WS_KUBE_API", "WS_KUBE_TOKEN_FILE", "WS_KUBE_CA_FILE",
		"WS_KUBE_NAMESPACE", "WS_KUBE_MANAGED", "WS_KUBE_PREFIX", "WS_KUBE_TEMPLATE_DIR",
		"WS_KUBE_READY_TIMEOUT", "WS_KUBE_PROXY", "KUBERNETES_SERVICE_HOST",
		"KUBERNETES_SERVICE_PORT", NULL };
	int i;
	for (i = 0; vars[i] != NULL; i++) {
		unsetenv(vars[i]);
	}
}

static void test_settings_from_the_environment(void) {
	static struct kube k;
	char why[300] = "";

	clear_env();
	setenv("WS_KUBE_NAMESPACE", "team-a", 1);
	setenv("WS_KUBE_MANAGED", "gw", 1);
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
	CHECK(kube_env_load(&k, why, sizeof(why)) == 0);
	CHECK_STR(k.api, "https://[fd00::1]:6443");
	CHECK_STR(k.prefix, "ws-");
	CHECK(k.ready_timeout == 120);
	CHECK_STR(k.proxy, "");
	setenv("WS_KUBE_API", "https://api.example:443//", 1);
	CHECK(kube_env_load(&k, why, sizeof(why)) == 0);
	CHECK_STR(k.api, "https://api.example:443");
	setenv("WS_KUBE_API", "http://api.example", 1);
	CHECK(kube_env_load(&k, why, sizeof(why)) == -1);
	CHECK_CONTAINS(why, "https://");
	setenv("WS_KUBE_API", "https://api.example", 1);
	setenv("WS_KUBE_NAMESPACE", "Team_A", 1);
	CHECK(kube_env_load(&k, why, sizeof(why)) == -1);
	CHECK_CONTAINS(why, "namespace");
	setenv("WS_KUBE_NAMESPACE", "team-a", 1);
	setenv("WS_KUBE_MANAGED", "gw=1", 1);
	CHECK(kube_env_load(&k, why, sizeof(why)) == -1);
	CHECK_CONTAINS(why, "WS_KUBE_MANAGED");
	unsetenv("WS_KUBE_MANAGED");
	CHECK(kube_env_load(&k, why, sizeof(why)) == -1);
	setenv("WS_KUBE_MANAGED", "gw", 1);
	setenv("WS_KUBE_PREFIX", "WS_", 1);
	CHECK(kube_env_load(&k, why, sizeof(why)) == -1);
	setenv("WS_KUBE_PREFIX", "", 1);
	setenv("WS_KUBE_READY_TIMEOUT", "0", 1);
	CHECK(kube_env_load(&k, why, sizeof(why)) == -1);
	setenv("WS_KUBE_READY_TIMEOUT", "30", 1);
	CHECK(kube_env_load(&k, why, sizeof(why)) == 0);
	CHECK(k.ready_timeout == 30);
	CHECK_STR(k.prefix, "");
	clear_env();
}

UNIT_SUITE(kube_wire_tests) = {
	{ "kube: frames of each length form parse", test_frames_of_each_length_form_parse },
	{ "kube: frames carry their channel, and the close",
		test_frames_carry_their_channel_and_the_close },
	{ "kube: frames past the cap or malformed are refused",
		test_frames_past_the_cap_or_malformed_are_refused },
	{ "kube: client frames are masked", test_client_frames_are_masked },
	{ "kube: Sec-WebSocket-Accept of RFC 6455's example", test_accept_of_the_rfc_example },
	{ "kube: the activity answer", test_activity_answer },
	{ "kube: error lines quote the Status message, cut, without the token",
		test_error_lines_quote_the_status_message_cut_and_without_the_token },
	{ "kube: paths come from the request table", test_paths_come_from_the_request_table },
	{ "kube: settings from the environment", test_settings_from_the_environment },
	UNIT_END
};
