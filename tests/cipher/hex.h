/*
 * hex.h - the known-answer tests' vectors, written in hex.
 */
#ifndef WS_CIPHER_TEST_HEX_H
#define WS_CIPHER_TEST_HEX_H

#include <stddef.h>

/* The bytes of hex (pairs of digits, up to max of them) into out; how many. */
size_t unhex(const char *hex, unsigned char *out, size_t max);

/* Whether got[0..len) is the (at most 512) bytes want_hex spells. */
int same_hex(const unsigned char *got, size_t len, const char *want_hex);

#endif
