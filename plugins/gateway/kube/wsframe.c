/*
 * wsframe.c - the little of WebSocket (RFC 6455) that an exec needs, and
 * what the activity script's output says.  The server's frames are
 * parsed strictly and against a cap before anything is buffered: a
 * length field is never trusted to size an allocation.
 */
#define _GNU_SOURCE /* memmem */
#include "kube.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tomcrypt.h>

long ws_frame_parse(const unsigned char *buf, size_t len, size_t cap, struct ws_frame *f,
		char *why, size_t whylen) {
	unsigned long long plen;
	size_t hdr = 2;
	int opcode;

	if (len < 2) {
		return 0;
	}
	if (buf[0] & 0x70) {
		snprintf(why, whylen, "a WebSocket frame with reserved bits set");
		return -1;
	}
	/* only a client masks (RFC 6455 5.1) */
	if (buf[1] & 0x80) {
		snprintf(why, whylen, "a masked WebSocket frame from the server");
		return -1;
	}
	opcode = buf[0] & 0x0f;
	plen = buf[1] & 0x7f;
	if (plen == 126) {
		if (len < 4) {
			return 0;
		}
		plen = (unsigned long long)buf[2] << 8 | buf[3];
		hdr = 4;
	} else if (plen == 127) {
		int i;
		if (len < 10) {
			return 0;
		}
		if (buf[2] & 0x80) {
			snprintf(why, whylen, "a WebSocket frame length with its top bit set");
			return -1;
		}
		for (plen = 0, i = 2; i < 10; i++) {
			plen = plen << 8 | buf[i];
		}
		hdr = 10;
	}
	if (opcode >= 8) {
		if (opcode > 10 || !(buf[0] & 0x80) || plen > 125) {
			snprintf(why, whylen, "a WebSocket control frame that is not one");
			return -1;
		}
	} else if (opcode > 2) {
		snprintf(why, whylen, "a WebSocket frame of unknown opcode %d", opcode);
		return -1;
	}
	if (plen > cap) {
		snprintf(why, whylen, "a WebSocket frame of %llu bytes (at most %zu)", plen, cap);
		return -1;
	}
	if (len - hdr < plen) {
		return 0;
	}
	f->fin = (buf[0] & 0x80) != 0;
	f->opcode = opcode;
	f->payload = buf + hdr;
	f->len = (size_t)plen;
	return (long)(hdr + plen);
}

size_t ws_client_frame(int opcode, const unsigned char *payload, size_t len,
		const unsigned char mask[4], unsigned char *out, size_t outlen) {
	size_t i;

	if (len > 125 || outlen < len + 6) {
		return 0;
	}
	out[0] = (unsigned char)(0x80 | (opcode & 0x0f));
	out[1] = (unsigned char)(0x80 | len);
	memcpy(out + 2, mask, 4);
	for (i = 0; i < len; i++) {
		out[6 + i] = payload[i] ^ mask[i % 4];
	}
	return len + 6;
}

int ws_accept_for(const char *key, char *out, size_t outlen) {
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char digest[20];
	hash_state md;
	char *b64;

	if (sha1_init(&md) != CRYPT_OK
			|| sha1_process(&md, (const unsigned char *)key, (unsigned long)strlen(key)) != CRYPT_OK
			|| sha1_process(&md, (const unsigned char *)guid, sizeof(guid) - 1) != CRYPT_OK
			|| sha1_done(&md, digest) != CRYPT_OK) {
		return -1;
	}
	b64 = kube_base64(digest, sizeof(digest));
	if (b64 == NULL || strlen(b64) >= outlen) {
		free(b64);
		return -1;
	}
	strcpy(out, b64);
	free(b64);
	return 0;
}

int64_t kube_activity_parse(const char *out, size_t len, int64_t now_ms) {
	static const char field[] = "\"last_activity_ms\":";
	const char *p = out, *end = out + len;
	int64_t newest = 0;
	size_t n = len;

	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r')) {
		n--;
	}
	if (n == 4 && memcmp(out, "hold", 4) == 0) {
		return now_ms;
	}
	while (p < end) {
		const char *hit = memmem(p, (size_t)(end - p), field, sizeof(field) - 1);
		int64_t v = 0;
		int digits = 0;

		if (hit == NULL) {
			break;
		}
		p = hit + sizeof(field) - 1;
		/* the hook library writes none, but JSON allows it */
		while (p < end && (*p == ' ' || *p == '\t')) {
			p++;
		}
		/* at most 18 digits: no overflow, and ms since the epoch fit well */
		while (p < end && *p >= '0' && *p <= '9' && digits < 18) {
			v = v * 10 + (*p - '0');
			p++;
			digits++;
		}
		if (digits > 0 && (p == end || *p < '0' || *p > '9') && v > newest) {
			newest = v;
		}
	}
	return newest;
}
