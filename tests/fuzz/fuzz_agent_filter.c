/*
 * fuzz_agent_filter.c - ws-agent-proxy's message filter (agent_filter.c):
 * the stream a workspace client sends, cut into messages the way the
 * proxy's read_message() does, each judged by ws_agent_filter.  Only
 * "list keys" and well-formed "sign" requests may pass.
 * Input: the client's byte stream.
 */
#include <string.h>

#include "agent_filter.h"
#include "fuzz.h"

static uint32_t u32(const uint8_t *p) {
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A sign request laid out as the protocol says, read independently. */
static int well_formed_sign(const uint8_t *body, size_t len) {
	size_t pos = 1;
	for (int i = 0; i < 2; i++) {
		uint64_t n;
		if (pos + 4 > len) {
			return 0;
		}
		n = u32(body + pos);
		pos += 4;
		if (pos + n > len) {
			return 0;
		}
		pos += (size_t)n;
	}
	return pos + 4 == len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	size_t pos = 0;

	while (size - pos >= 4) {
		long len = ws_agent_frame_length(data + pos);
		uint32_t raw = u32(data + pos);
		enum ws_agent_verdict v;

		FUZZ_ASSERT(len < 0 ? raw == 0 || raw > WS_AGENT_MAX_MESSAGE : (uint32_t)len == raw);
		if (len < 0 || (size_t)len > size - pos - 4) {
			break; /* the proxy drops the connection, or waits for more */
		}
		pos += 4;
		{
			/* a buffer of exactly the message: reading past it is caught */
			uint8_t *body = malloc((size_t)len);
			FUZZ_ASSERT(body != NULL);
			memcpy(body, data + pos, (size_t)len);
			v = ws_agent_filter(body, (size_t)len);
			free(body);
		}
		switch (data[pos]) {
		case WS_AGENTC_REQUEST_IDENTITIES:
			FUZZ_ASSERT((v == WS_AGENT_PASS) == (len == 1));
			break;
		case WS_AGENTC_SIGN_REQUEST:
			FUZZ_ASSERT((v == WS_AGENT_PASS) == well_formed_sign(data + pos, (size_t)len));
			break;
		default:
			FUZZ_ASSERT(v == WS_AGENT_REFUSED);
		}
		if (v != WS_AGENT_PASS) {
			FUZZ_ASSERT(v == WS_AGENT_REFUSED || v == WS_AGENT_MALFORMED);
		}
		pos += (size_t)len;
	}
	return 0;
}
