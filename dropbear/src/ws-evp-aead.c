/*
 * ws-evp-aead.c - SSH's AEAD packet ciphers on libcrypto (see ws-evp-aead.h).
 * Built only when ./configure enabled the libcrypto cipher backend
 * (WS_LIBCRYPTO_CIPHERS); otherwise this file compiles to nothing and the
 * server keeps libtomcrypt's gcm.c and chachapoly.c.
 */
#if defined(WS_LIBCRYPTO_CIPHERS) && WS_LIBCRYPTO_CIPHERS

#include "ws-evp-aead.h"

#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* The length field: authenticated additional data for GCM, encrypted with
 * the header key for chacha20-poly1305. */
#define LEN_BYTES 4
#define CHACHA_KEY_LEN 32
#define POLY1305_KEY_LEN 32

/* libcrypto initialises itself at the first EVP call and then reads
 * /etc/ssl/openssl.cnf, which sets up TLS defaults and providers and
 * nothing these ciphers use: not reading it saves 58 KiB of heap and about
 * 0.3 ms in every connection process (docs/benchmarks-memory.md).  The
 * default provider is used whatever the file says.  Every libcrypto
 * cipher and MAC of ours (ws-evp-ctr.c, ws-evp-hmac.c too) calls this first. */
void ws_evp_init(void) {
	OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
}

/* ---- aes-gcm@openssh.com ---- */

int ws_gcm_init(struct ws_gcm *st, const unsigned char *key, size_t keylen,
		const unsigned char iv[WS_GCM_IV_LEN]) {
	const EVP_CIPHER *cipher;

	memset(st, 0, sizeof(*st));
	ws_evp_init();
	cipher = keylen == 16 ? EVP_aes_128_gcm() : keylen == 32 ? EVP_aes_256_gcm() : NULL;
	if (cipher == NULL || (st->ctx = EVP_CIPHER_CTX_new()) == NULL) {
		return -1;
	}
	/* The direction is set per packet: Dropbear's start() does not know it. */
	if (EVP_CipherInit_ex(st->ctx, cipher, NULL, key, NULL, 1) != 1) {
		ws_gcm_free(st);
		return -1;
	}
	memcpy(st->iv, iv, WS_GCM_IV_LEN);
	return 0;
}

int ws_gcm_crypt(struct ws_gcm *st, const unsigned char *in, unsigned char *out,
		size_t len, int encrypt) {
	unsigned char tag[WS_AEAD_TAG_LEN];
	int n, i;

	if (len < LEN_BYTES || len > INT_MAX) {
		return -1;
	}
	if (EVP_CipherInit_ex(st->ctx, NULL, NULL, NULL, st->iv, encrypt ? 1 : 0) != 1) {
		return -1;
	}
	if (!encrypt) {
		/* a copy: the control call takes a non-const pointer */
		memcpy(tag, in + len, sizeof(tag));
		if (EVP_CIPHER_CTX_ctrl(st->ctx, EVP_CTRL_AEAD_SET_TAG, sizeof(tag), tag) != 1) {
			return -1;
		}
	}
	if (EVP_CipherUpdate(st->ctx, NULL, &n, in, LEN_BYTES) != 1
			|| EVP_CipherUpdate(st->ctx, out + LEN_BYTES, &n, in + LEN_BYTES,
				(int)(len - LEN_BYTES)) != 1
			|| EVP_CipherFinal_ex(st->ctx, tag, &n) != 1) {
		/* for decryption this is also where a wrong tag ends up */
		return -1;
	}
	if (out != in) {
		memcpy(out, in, LEN_BYTES);
	}
	if (encrypt && EVP_CIPHER_CTX_ctrl(st->ctx, EVP_CTRL_AEAD_GET_TAG,
				WS_AEAD_TAG_LEN, out + len) != 1) {
		return -1;
	}
	/* RFC 5647 7.1: the invocation counter is the IV's last 8 bytes,
	 * big-endian, incremented per packet. */
	for (i = WS_GCM_IV_LEN - 1; i >= WS_GCM_IV_LEN - 8 && ++st->iv[i] == 0; i--) {
	}
	return 0;
}

void ws_gcm_free(struct ws_gcm *st) {
	EVP_CIPHER_CTX_free(st->ctx);	/* wipes the key schedule */
	OPENSSL_cleanse(st, sizeof(*st));
}

/* ---- chacha20-poly1305@openssh.com ---- */

/* OpenSSL's ChaCha20 IV is a 64-bit little-endian block counter followed by
 * the 64-bit nonce, here the big-endian sequence number (the original
 * ChaCha20 layout that OpenSSH's construction uses). */
static int chacha_at(EVP_CIPHER_CTX *ctx, uint32_t seq, unsigned char counter) {
	unsigned char iv[16] = { 0 };
	int i;

	iv[0] = counter;
	for (i = 0; i < 4; i++) {
		iv[15 - i] = (unsigned char)(seq >> (8 * i));
	}
	return EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, 1) == 1 ? 0 : -1;
}

static int chacha_xor(EVP_CIPHER_CTX *ctx, const unsigned char *in, unsigned char *out,
		size_t len) {
	int n;
	return EVP_CipherUpdate(ctx, out, &n, in, (int)len) == 1 ? 0 : -1;
}

static EVP_CIPHER_CTX *chacha_new(const unsigned char *key) {
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	if (ctx != NULL && EVP_CipherInit_ex(ctx, EVP_chacha20(), NULL, key, NULL, 1) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

int ws_chachapoly_init(struct ws_chachapoly *st, const unsigned char *key) {
	EVP_MAC *mac;

	memset(st, 0, sizeof(*st));
	ws_evp_init();
	st->main = chacha_new(key);
	st->header = chacha_new(key + CHACHA_KEY_LEN);
	mac = EVP_MAC_fetch(NULL, "POLY1305", NULL);
	if (mac != NULL) {
		st->poly = EVP_MAC_CTX_new(mac);	/* holds its own reference */
		EVP_MAC_free(mac);
	}
	if (st->main == NULL || st->header == NULL || st->poly == NULL) {
		ws_chachapoly_free(st);
		return -1;
	}
	return 0;
}

static int poly1305(EVP_MAC_CTX *poly, const unsigned char *key, const unsigned char *data,
		size_t len, unsigned char tag[WS_AEAD_TAG_LEN]) {
	size_t n;
	return EVP_MAC_init(poly, key, POLY1305_KEY_LEN, NULL) == 1
		&& EVP_MAC_update(poly, data, len) == 1
		&& EVP_MAC_final(poly, tag, &n, WS_AEAD_TAG_LEN) == 1
		&& n == WS_AEAD_TAG_LEN ? 0 : -1;
}

int ws_chachapoly_crypt(struct ws_chachapoly *st, uint32_t seq, const unsigned char *in,
		unsigned char *out, size_t len, int encrypt) {
	unsigned char polykey[POLY1305_KEY_LEN] = { 0 }, tag[WS_AEAD_TAG_LEN];
	int rc = -1;

	if (len < LEN_BYTES || len > INT_MAX) {
		return -1;
	}
	/* block 0 of the main key stream is the one-time Poly1305 key */
	if (chacha_at(st->main, seq, 0) != 0
			|| chacha_xor(st->main, polykey, polykey, sizeof(polykey)) != 0) {
		goto out;
	}
	/* the tag covers the encrypted length and body: check it before
	 * decrypting anything */
	if (!encrypt && (poly1305(st->poly, polykey, in, len, tag) != 0
			|| CRYPTO_memcmp(tag, in + len, sizeof(tag)) != 0)) {
		goto out;
	}
	if (chacha_at(st->header, seq, 0) != 0
			|| chacha_xor(st->header, in, out, LEN_BYTES) != 0
			|| chacha_at(st->main, seq, 1) != 0
			|| chacha_xor(st->main, in + LEN_BYTES, out + LEN_BYTES, len - LEN_BYTES) != 0) {
		goto out;
	}
	if (encrypt && poly1305(st->poly, polykey, out, len, out + len) != 0) {
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(polykey, sizeof(polykey));
	return rc;
}

int ws_chachapoly_length(struct ws_chachapoly *st, uint32_t seq,
		const unsigned char *in, uint32_t *plen) {
	unsigned char buf[LEN_BYTES];

	if (chacha_at(st->header, seq, 0) != 0 || chacha_xor(st->header, in, buf, LEN_BYTES) != 0) {
		return -1;
	}
	*plen = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
	return 0;
}

void ws_chachapoly_free(struct ws_chachapoly *st) {
	EVP_CIPHER_CTX_free(st->main);
	EVP_CIPHER_CTX_free(st->header);
	EVP_MAC_CTX_free(st->poly);
	OPENSSL_cleanse(st, sizeof(*st));
}

#else
/* ISO C wants at least one declaration in a translation unit. */
typedef int ws_evp_aead_disabled;
#endif
