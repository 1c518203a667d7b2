/*
 * agent_filter.c - the ws-agent-proxy's message filter (agent_filter.h).
 */
#include "agent_filter.h"

#include <stdint.h>

static uint32_t get_u32(const unsigned char *p) {
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

long ws_agent_frame_length(const unsigned char header[4]) {
	uint32_t len = get_u32(header);
	return len == 0 || len > WS_AGENT_MAX_MESSAGE ? -1 : (long)len;
}

/* Steps over an SSH string (uint32 length, then that many bytes) at
 * *pos; 0, or -1 if it runs past the end. */
static int skip_string(const unsigned char *body, size_t len, size_t *pos) {
	uint32_t n;
	if (len - *pos < 4) {
		return -1;
	}
	n = get_u32(body + *pos);
	*pos += 4;
	if (n > len - *pos) {
		return -1;
	}
	*pos += n;
	return 0;
}

enum ws_agent_verdict ws_agent_filter(const unsigned char *body, size_t len) {
	size_t pos = 1;

	if (len == 0) {
		return WS_AGENT_MALFORMED;
	}
	switch (body[0]) {
	case WS_AGENTC_REQUEST_IDENTITIES:
		/* the type byte alone */
		return len == 1 ? WS_AGENT_PASS : WS_AGENT_MALFORMED;
	case WS_AGENTC_SIGN_REQUEST:
		/* string key blob, string data, uint32 flags, and nothing after */
		if (skip_string(body, len, &pos) != 0 || skip_string(body, len, &pos) != 0
				|| len - pos != 4) {
			return WS_AGENT_MALFORMED;
		}
		return WS_AGENT_PASS;
	default:
		return WS_AGENT_REFUSED;
	}
}
