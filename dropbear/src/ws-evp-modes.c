/*
 * ws-evp-modes.c - Dropbear's side of the libcrypto cipher backend, when
 * ./configure enabled it: cipher modes (struct dropbear_cipher_mode) for
 * the AEAD ciphers and AES-CTR, in place of gcm.c, chachapoly.c and
 * libtomcrypt's ctr_* (patch 0020 selects them in sshciphers[]; patch 0009
 * frees a state when a rekey replaces it), and the HMAC-SHA2 packet MACs
 * (patch 0024 keys them in gen_new_keys() and uses them in make_mac()).
 * The SSH constructions are in ws-evp-aead.c, ws-evp-ctr.c and
 * ws-evp-hmac.c; this only maps Dropbear's calling convention
 * (libtomcrypt's CRYPT_OK, LTC_ENCRYPT, key_context_directional) onto them.
 */
#include "includes.h"
#include "algo.h"
#include "session.h"
#include "ws-evp-modes.h"

#if WS_LIBCRYPTO_CIPHERS

/* What Dropbear reads of an AEAD "MAC": the tag length (and the key length,
 * unused for AEAD modes), as gcm.c and chachapoly.c declare it. */
static const struct dropbear_hash gcm_tag = { NULL, 0, WS_AEAD_TAG_LEN, 0 };
static const struct dropbear_hash chachapoly_tag = { NULL, 32, WS_AEAD_TAG_LEN, 0 };

static int gcm_start(int UNUSED(cipher), const unsigned char *iv, const unsigned char *key,
		int keylen, int UNUSED(num_rounds), void *state) {
	return ws_gcm_init(state, key, (size_t)keylen, iv) == 0 ? CRYPT_OK : CRYPT_ERROR;
}

static int gcm_crypt(unsigned int UNUSED(seq), const unsigned char *in, unsigned char *out,
		unsigned long len, unsigned long taglen, void *state, int direction) {
	if (taglen != WS_AEAD_TAG_LEN) {
		return CRYPT_ERROR;
	}
	return ws_gcm_crypt(state, in, out, len, direction == LTC_ENCRYPT) == 0
		? CRYPT_OK : CRYPT_ERROR;
}

/* GCM leaves the length field in the clear (it is only authenticated). */
static int gcm_getlength(unsigned int UNUSED(seq), const unsigned char *in,
		unsigned int *outlen, unsigned long len, void *UNUSED(state)) {
	if (len < 4) {
		return CRYPT_ERROR;
	}
	LOAD32H(*outlen, in);
	return CRYPT_OK;
}

static void gcm_cleanup(void *state) {
	ws_gcm_free(state);
}

static int chachapoly_start(int UNUSED(cipher), const unsigned char *UNUSED(iv),
		const unsigned char *key, int keylen, int UNUSED(num_rounds), void *state) {
	if (keylen != WS_CHACHAPOLY_KEY_LEN) {
		return CRYPT_ERROR;
	}
	return ws_chachapoly_init(state, key) == 0 ? CRYPT_OK : CRYPT_ERROR;
}

static int chachapoly_crypt(unsigned int seq, const unsigned char *in, unsigned char *out,
		unsigned long len, unsigned long taglen, void *state, int direction) {
	if (taglen != WS_AEAD_TAG_LEN) {
		return CRYPT_ERROR;
	}
	return ws_chachapoly_crypt(state, seq, in, out, len, direction == LTC_ENCRYPT) == 0
		? CRYPT_OK : CRYPT_ERROR;
}

static int chachapoly_getlength(unsigned int seq, const unsigned char *in,
		unsigned int *outlen, unsigned long len, void *state) {
	uint32_t plen;

	if (len < 4 || ws_chachapoly_length(state, seq, in, &plen) != 0) {
		return CRYPT_ERROR;
	}
	*outlen = plen;
	return CRYPT_OK;
}

static void chachapoly_cleanup(void *state) {
	ws_chachapoly_free(state);
}

/* aes128-ctr, aes256-ctr: a stream, so encrypt and decrypt are one call. */
static int aesctr_start(int UNUSED(cipher), const unsigned char *iv, const unsigned char *key,
		int keylen, int UNUSED(num_rounds), void *state) {
	return ws_ctr_init(state, key, (size_t)keylen, iv) == 0 ? CRYPT_OK : CRYPT_ERROR;
}

static int aesctr_crypt(const unsigned char *in, unsigned char *out, unsigned long len,
		void *state) {
	return ws_ctr_crypt(state, in, out, len) == 0 ? CRYPT_OK : CRYPT_ERROR;
}

static void aesctr_cleanup(void *state) {
	ws_ctr_free(state);
}

const struct dropbear_cipher_mode ws_evp_mode_ctr = {
	aesctr_start, aesctr_crypt, aesctr_crypt, NULL, NULL, NULL, aesctr_cleanup
};

/* The MACs libcrypto does: HMAC-SHA256 and HMAC-SHA512 untruncated (plain
 * and -etm share the hash); any other stays on libtomcrypt. */
int ws_mac_start(struct key_context_directional *dir) {
	const struct dropbear_hash *mac = dir->algo_mac;
	const char *digest;

	memset(&dir->ws_mac, 0, sizeof(dir->ws_mac));
	if (mac == NULL || mac->hash_desc == NULL) {
		return DROPBEAR_SUCCESS;
	}
	if (mac->hash_desc == &sha256_desc && mac->hashsize == 32) {
		digest = "SHA256";
	} else if (mac->hash_desc == &sha512_desc && mac->hashsize == 64) {
		digest = "SHA512";
	} else {
		return DROPBEAR_SUCCESS;
	}
	if (ws_hmac_init(&dir->ws_mac, digest, dir->mackey, mac->keysize) != 0) {
		return DROPBEAR_FAILURE;
	}
	if (dir->ws_mac.len != mac->hashsize) {
		ws_hmac_free(&dir->ws_mac);
		return DROPBEAR_FAILURE;
	}
	return DROPBEAR_SUCCESS;
}

void ws_mac_cleanup(struct key_context_directional *dir) {
	if (dir->ws_mac.ctx != NULL) {
		ws_hmac_free(&dir->ws_mac);
	}
}

const struct dropbear_cipher_mode ws_evp_mode_gcm = {
	gcm_start, NULL, NULL, gcm_crypt, gcm_getlength, &gcm_tag, gcm_cleanup
};

const struct dropbear_cipher_mode ws_evp_mode_chachapoly = {
	chachapoly_start, NULL, NULL, chachapoly_crypt, chachapoly_getlength,
	&chachapoly_tag, chachapoly_cleanup
};

#endif /* WS_LIBCRYPTO_CIPHERS */
