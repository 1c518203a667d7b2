/*
 * ws-evp-ctr.h - aes128-ctr / aes256-ctr (RFC 4344) on OpenSSL's libcrypto.
 *
 * Why: libtomcrypt's AES is portable table code (no AES-NI, and its table
 * lookups are not constant-time); libcrypto's uses AES-NI, in constant
 * time, at over 20 times the speed.  This knows nothing of Dropbear
 * (ws-evp-modes.c adapts it), so the unit tests link it alone.
 *
 * The key stream is AES of a 128-bit big-endian counter that starts at the
 * IV and wraps modulo 2^128, as SSH and libcrypto both define it.  Every
 * function returns 0 on success and -1 on failure.
 */
#ifndef WS_EVP_CTR_H
#define WS_EVP_CTR_H

#include <stddef.h>

#define WS_CTR_IV_LEN 16

struct evp_cipher_ctx_st;

struct ws_ctr {
	struct evp_cipher_ctx_st *ctx;	/* holds the expanded key and counter */
};

/* keylen 16 or 32 selects AES-128 or AES-256. */
int ws_ctr_init(struct ws_ctr *st, const unsigned char *key, size_t keylen,
		const unsigned char iv[WS_CTR_IV_LEN]);
/* Encrypts or decrypts (the same operation) len bytes, continuing the key
 * stream where the previous call stopped; in == out is allowed. */
int ws_ctr_crypt(struct ws_ctr *st, const unsigned char *in, unsigned char *out, size_t len);
void ws_ctr_free(struct ws_ctr *st);

#endif
