/*
 * ws-evp-ctr.c - AES-CTR for SSH on libcrypto (see ws-evp-ctr.h).  Built
 * only with the libcrypto cipher backend (WS_LIBCRYPTO_CIPHERS); otherwise
 * the server keeps libtomcrypt's ctr_* and this compiles to nothing.
 */
#if defined(WS_LIBCRYPTO_CIPHERS) && WS_LIBCRYPTO_CIPHERS

#include "ws-evp-ctr.h"
#include "ws-evp-aead.h"

#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

int ws_ctr_init(struct ws_ctr *st, const unsigned char *key, size_t keylen,
		const unsigned char iv[WS_CTR_IV_LEN]) {
	const EVP_CIPHER *cipher;

	memset(st, 0, sizeof(*st));
	ws_evp_init();
	cipher = keylen == 16 ? EVP_aes_128_ctr() : keylen == 32 ? EVP_aes_256_ctr() : NULL;
	if (cipher == NULL || (st->ctx = EVP_CIPHER_CTX_new()) == NULL) {
		return -1;
	}
	/* CTR encrypts and decrypts alike: one direction serves both. */
	if (EVP_CipherInit_ex(st->ctx, cipher, NULL, key, iv, 1) != 1) {
		ws_ctr_free(st);
		return -1;
	}
	return 0;
}

int ws_ctr_crypt(struct ws_ctr *st, const unsigned char *in, unsigned char *out, size_t len) {
	int n;

	if (len > INT_MAX) {
		return -1;
	}
	return EVP_CipherUpdate(st->ctx, out, &n, in, (int)len) == 1 && (size_t)n == len ? 0 : -1;
}

void ws_ctr_free(struct ws_ctr *st) {
	EVP_CIPHER_CTX_free(st->ctx);	/* wipes the key schedule */
	OPENSSL_cleanse(st, sizeof(*st));
}

#else
/* ISO C wants at least one declaration in a translation unit. */
typedef int ws_evp_ctr_disabled;
#endif
