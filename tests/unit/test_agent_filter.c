/*
 * test_agent_filter.c - ws-agent-proxy's message filter: which agent
 * requests reach the agent behind the proxy.
 */
#include "unit.h"

#include "agent_filter.h"

/* An SSH string: 4-byte length, then the bytes. */
static size_t put_string(unsigned char *out, const char *s, size_t n) {
	out[0] = (unsigned char)(n >> 24);
	out[1] = (unsigned char)(n >> 16);
	out[2] = (unsigned char)(n >> 8);
	out[3] = (unsigned char)n;
	memcpy(out + 4, s, n);
	return 4 + n;
}

static void frame_lengths(void) {
	static const unsigned char zero[4] = { 0, 0, 0, 0 }, one[4] = { 0, 0, 0, 1 },
		max[4] = { 0, 4, 0, 0 }, over[4] = { 0, 4, 0, 1 }, huge[4] = { 0xff, 0xff, 0xff, 0xff };
	CHECK(ws_agent_frame_length(zero) == -1);
	CHECK(ws_agent_frame_length(one) == 1);
	CHECK(ws_agent_frame_length(max) == WS_AGENT_MAX_MESSAGE);
	CHECK(ws_agent_frame_length(over) == -1);
	CHECK(ws_agent_frame_length(huge) == -1);
}

static void only_list_and_sign_pass(void) {
	unsigned char msg[256];
	size_t n = 0;

	msg[0] = WS_AGENTC_REQUEST_IDENTITIES;
	CHECK(ws_agent_filter(msg, 1) == WS_AGENT_PASS);
	CHECK(ws_agent_filter(msg, 2) == WS_AGENT_MALFORMED);

	/* sign: key blob, data, flags */
	msg[n++] = WS_AGENTC_SIGN_REQUEST;
	n += put_string(msg + n, "key-blob", 8);
	n += put_string(msg + n, "data to sign", 12);
	memcpy(msg + n, "\0\0\0\4", 4);
	n += 4;
	CHECK(ws_agent_filter(msg, n) == WS_AGENT_PASS);
	CHECK(ws_agent_filter(msg, n - 1) == WS_AGENT_MALFORMED); /* flags cut */
	CHECK(ws_agent_filter(msg, n + 1) == WS_AGENT_MALFORMED); /* a byte after */
	CHECK(ws_agent_filter(msg, 3) == WS_AGENT_MALFORMED);     /* length cut */
	msg[4] = 0x7f; /* a key blob longer than the message */
	CHECK(ws_agent_filter(msg, n) == WS_AGENT_MALFORMED);
	memset(msg + 1, 0xff, 4);
	CHECK(ws_agent_filter(msg, n) == WS_AGENT_MALFORMED);

	/* add, remove, remove all, lock, unlock, extension: refused */
	static const unsigned char refused[] = { 17, 18, 19, 22, 23, 25, 27, 0, 255 };
	for (size_t i = 0; i < sizeof(refused); i++) {
		msg[0] = refused[i];
		CHECK(ws_agent_filter(msg, 1) == WS_AGENT_REFUSED);
	}
	CHECK(ws_agent_filter(msg, 0) == WS_AGENT_MALFORMED);
}

UNIT_SUITE(agent_filter_tests) = {
	{ "agent filter: frame lengths", frame_lengths },
	{ "agent filter: only list and sign pass", only_list_and_sign_pass },
	UNIT_END
};
