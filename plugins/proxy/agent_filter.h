/*
 * agent_filter.h - what ws-agent-proxy lets through to the agent.
 *
 * The proxy reads agent protocol messages (draft-miller-ssh-agent) from a
 * client it does not trust with the keys: only "list keys" and "sign"
 * requests pass, and only when they are well formed, so the agent's own
 * parser sees nothing else.  Pure functions of their input, so that the
 * unit tests and the fuzzer can call them without sockets.
 */
#ifndef WS_AGENT_FILTER_H
#define WS_AGENT_FILTER_H

#include <stddef.h>

/* OpenSSH's own limit on an agent message. */
#define WS_AGENT_MAX_MESSAGE (256 * 1024)

#define WS_AGENT_FAILURE 5
#define WS_AGENTC_REQUEST_IDENTITIES 11
#define WS_AGENTC_SIGN_REQUEST 13

/* The body length from a message's 4-byte big-endian length field, or -1
 * when it is 0 or over WS_AGENT_MAX_MESSAGE (the connection is dropped). */
long ws_agent_frame_length(const unsigned char header[4]);

enum ws_agent_verdict {
	WS_AGENT_PASS,      /* relay it to the agent */
	WS_AGENT_REFUSED,   /* a type the proxy does not relay */
	WS_AGENT_MALFORMED, /* a relayed type, but not laid out as one */
};

/* Decides on one message body (type byte and contents, len >= 1). */
enum ws_agent_verdict ws_agent_filter(const unsigned char *body, size_t len);

#endif
