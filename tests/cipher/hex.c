/*
 * hex.c - the known-answer tests' vectors, written in hex (hex.h).
 */
#include "hex.h"

#include <stdio.h>
#include <string.h>

size_t unhex(const char *hex, unsigned char *out, size_t max) {
	size_t n = 0;
	unsigned int byte;
	while (hex[0] && hex[1] && n < max && sscanf(hex, "%2x", &byte) == 1) {
		out[n++] = (unsigned char)byte;
		hex += 2;
	}
	return n;
}

int same_hex(const unsigned char *got, size_t len, const char *want_hex) {
	unsigned char want[512];
	return unhex(want_hex, want, sizeof(want)) == len && memcmp(got, want, len) == 0;
}
