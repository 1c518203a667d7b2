/*
 * ws-evp-hmac.c - the SSH packet MAC on libcrypto's HMAC (see
 * ws-evp-hmac.h).  Built only with the libcrypto cipher backend
 * (WS_LIBCRYPTO_CIPHERS); otherwise packet.c keeps libtomcrypt's hmac_*.
 */
#if defined(WS_LIBCRYPTO_CIPHERS) && WS_LIBCRYPTO_CIPHERS

#include "ws-evp-hmac.h"
#include "ws-evp-aead.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

int ws_hmac_init(struct ws_hmac *st, const char *digest, const unsigned char *key,
		size_t keylen) {
	OSSL_PARAM params[2];
	EVP_MAC *mac;

	memset(st, 0, sizeof(*st));
	ws_evp_init();
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (mac != NULL) {
		st->ctx = EVP_MAC_CTX_new(mac);	/* holds its own reference */
		EVP_MAC_free(mac);
	}
	if (st->ctx == NULL) {
		return -1;
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	/* The key is hashed into the inner and outer pads once, here: each
	 * packet then only restarts from them. */
	if (EVP_MAC_init(st->ctx, key, keylen, params) != 1) {
		ws_hmac_free(st);
		return -1;
	}
	st->len = EVP_MAC_CTX_get_mac_size(st->ctx);
	if (st->len == 0 || st->len > WS_HMAC_MAX_LEN) {
		ws_hmac_free(st);
		return -1;
	}
	return 0;
}

int ws_hmac_packet(const struct ws_hmac *st, uint32_t seq, const unsigned char *data, size_t len,
		unsigned char *out) {
	unsigned char seqbuf[4];
	size_t n;

	seqbuf[0] = (unsigned char)(seq >> 24), seqbuf[1] = (unsigned char)(seq >> 16);
	seqbuf[2] = (unsigned char)(seq >> 8), seqbuf[3] = (unsigned char)seq;
	/* A NULL key keeps the one set by ws_hmac_init: HMAC restarts from the
	 * saved inner pad state instead of hashing the key again. */
	return EVP_MAC_init(st->ctx, NULL, 0, NULL) == 1
		&& EVP_MAC_update(st->ctx, seqbuf, sizeof(seqbuf)) == 1
		&& EVP_MAC_update(st->ctx, data, len) == 1
		&& EVP_MAC_final(st->ctx, out, &n, st->len) == 1
		&& n == st->len ? 0 : -1;
}

void ws_hmac_free(struct ws_hmac *st) {
	EVP_MAC_CTX_free(st->ctx);	/* wipes the pads */
	OPENSSL_cleanse(st, sizeof(*st));
}

#else
/* ISO C wants at least one declaration in a translation unit. */
typedef int ws_evp_hmac_disabled;
#endif
