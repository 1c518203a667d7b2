/*
 * ws-evp-aead.h - the SSH AEAD packet ciphers on OpenSSL's libcrypto:
 * aes128-gcm@openssh.com / aes256-gcm@openssh.com (RFC 5647 as OpenSSH
 * does it) and chacha20-poly1305@openssh.com (OpenSSH's PROTOCOL.chacha20poly1305).
 *
 * Why: Debian's libtomcrypt 1.18 has neither AES-NI nor SIMD ChaCha20 or
 * Poly1305, so it caps bulk throughput well below OpenSSH.  libcrypto has
 * all three and does them in constant time; this file only arranges the
 * SSH packet layout around its EVP calls.  It knows nothing of Dropbear
 * (ws-evp-modes.c adapts it), so the unit tests link it alone.
 *
 * A packet is LEN(4) || body, the tag follows at in + len.  `len` counts
 * the length field and the body, as Dropbear's aead_crypt does.  Every
 * function returns 0 on success and -1 on failure (for decryption: the tag
 * did not match; the output is then not to be used).
 */
#ifndef WS_EVP_AEAD_H
#define WS_EVP_AEAD_H

#include <stddef.h>
#include <stdint.h>

#define WS_AEAD_TAG_LEN 16
#define WS_GCM_IV_LEN 12
#define WS_CHACHAPOLY_KEY_LEN 64

/* OpenSSL's types, declared here so that Dropbear's headers, which embed
 * these states in a union, need not include OpenSSL's. */
struct evp_cipher_ctx_st;
struct evp_mac_ctx_st;

struct ws_gcm {
	struct evp_cipher_ctx_st *ctx;	/* holds the expanded key */
	unsigned char iv[WS_GCM_IV_LEN];	/* fixed 4 bytes || 64-bit counter */
};

struct ws_chachapoly {
	struct evp_cipher_ctx_st *main;		/* K_2: body and the Poly1305 key */
	struct evp_cipher_ctx_st *header;	/* K_1: the length field */
	struct evp_mac_ctx_st *poly;
};

/* Initialises libcrypto without reading openssl.cnf; called by every
 * ws_*_init of the libcrypto backend before its first EVP call. */
void ws_evp_init(void);

/* keylen 16 or 32 selects AES-128 or AES-256. */
int ws_gcm_init(struct ws_gcm *st, const unsigned char *key, size_t keylen,
		const unsigned char iv[WS_GCM_IV_LEN]);
/* Encrypts (or decrypts and verifies) one packet; the length field is
 * authenticated, not encrypted.  Advances the invocation counter. */
int ws_gcm_crypt(struct ws_gcm *st, const unsigned char *in, unsigned char *out,
		size_t len, int encrypt);
void ws_gcm_free(struct ws_gcm *st);

/* key is K_2 || K_1 (64 bytes), as SSH's key derivation gives it. */
int ws_chachapoly_init(struct ws_chachapoly *st, const unsigned char *key);
/* seq is the packet sequence number; decryption checks the tag first and
 * decrypts nothing when it does not match. */
int ws_chachapoly_crypt(struct ws_chachapoly *st, uint32_t seq, const unsigned char *in,
		unsigned char *out, size_t len, int encrypt);
/* Decrypts only the 4-byte length field of packet seq. */
int ws_chachapoly_length(struct ws_chachapoly *st, uint32_t seq,
		const unsigned char *in, uint32_t *plen);
void ws_chachapoly_free(struct ws_chachapoly *st);

#endif
