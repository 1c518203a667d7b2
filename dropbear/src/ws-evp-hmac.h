/*
 * ws-evp-hmac.h - SSH's packet MAC, HMAC(key, seq || packet) (RFC 4253
 * 6.4), with SHA-256 or SHA-512 on OpenSSL's libcrypto, for hmac-sha2-256,
 * hmac-sha2-512 and their -etm@openssh.com forms.
 *
 * Why: libtomcrypt's SHA-2 is portable C (no SHA-NI, no SIMD) and capped
 * near 300 MB/s, which held the CTR ciphers at a quarter of OpenSSH's
 * speed.  libcrypto's uses SHA-NI or AVX2.  Knows nothing of Dropbear, so
 * the unit tests link it alone; comparing a received MAC stays with the
 * caller (packet.c's constant_time_memcmp).
 */
#ifndef WS_EVP_HMAC_H
#define WS_EVP_HMAC_H

#include <stddef.h>
#include <stdint.h>

#define WS_HMAC_MAX_LEN 64

struct evp_mac_ctx_st;

struct ws_hmac {
	struct evp_mac_ctx_st *ctx;	/* keyed once; holds the inner/outer pads */
	size_t len;			/* the digest's, and so the MAC's, length */
};

/* digest is "SHA256" or "SHA512"; any key length.  Returns 0 or -1. */
int ws_hmac_init(struct ws_hmac *st, const char *digest, const unsigned char *key,
		size_t keylen);
/* out (st->len bytes) = HMAC(key, seq as 4 bytes big-endian || data).
 * Returns 0 or -1.  Changes only the context st points to, so a caller
 * holding its key state const (packet.c's make_mac) can use it. */
int ws_hmac_packet(const struct ws_hmac *st, uint32_t seq, const unsigned char *data, size_t len,
		unsigned char *out);
void ws_hmac_free(struct ws_hmac *st);

#endif
