/*
 * fuzz_ctr_mac.c - the libcrypto AES-CTR and HMAC-SHA2 packet MACs
 * (dropbear/src/ws-evp-ctr.c, ws-evp-hmac.c) against libtomcrypt, the
 * implementation upstream Dropbear uses for them: any key, IV, sequence
 * number and packet, the key stream cut into two calls anywhere, gives
 * libtomcrypt's bytes, decrypts back, and MACs to libtomcrypt's HMAC.
 * Input: one byte (bit 0: AES-256, bit 1: SHA-512, the rest: where the
 * stream is cut), a 4-byte sequence number, a 32-byte key, a 16-byte IV,
 * then the packet.
 */
#include <string.h>

#include <tomcrypt.h>

#include "fuzz.h"
#include "ws-evp-ctr.h"
#include "ws-evp-hmac.h"

#define HEAD (1 + 4 + 32 + WS_CTR_IV_LEN)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	static int aes = -1, sha256 = -1, sha512 = -1;
	unsigned char want_mac[WS_HMAC_MAX_LEN], got_mac[WS_HMAC_MAX_LEN], seqbuf[4];
	const unsigned char *key, *iv, *pt;
	unsigned char *want, *got;
	unsigned long maclen = sizeof(want_mac);
	size_t len, cut, keylen;
	symmetric_CTR ref;
	struct ws_ctr ctr;
	struct ws_hmac mac;
	hmac_state h;
	uint32_t seq;
	int big;

	if (size < HEAD) {
		return 0;
	}
	if (aes < 0) {
		aes = register_cipher(&aes_desc);
		sha256 = register_hash(&sha256_desc);
		sha512 = register_hash(&sha512_desc);
	}
	keylen = (data[0] & 1) ? 32 : 16;
	big = (data[0] & 2) != 0;
	memcpy(seqbuf, data + 1, 4);
	seq = (uint32_t)seqbuf[0] << 24 | (uint32_t)seqbuf[1] << 16 | (uint32_t)seqbuf[2] << 8 | seqbuf[3];
	key = data + 5;
	iv = data + 5 + 32;
	pt = data + HEAD;
	len = size - HEAD;
	cut = len ? (size_t)(data[0] >> 2) * 131 % (len + 1) : 0;
	/* exact-size copies, so that a read or write past them is caught */
	want = malloc(len + 1);
	got = malloc(len + 1);
	FUZZ_ASSERT(want != NULL && got != NULL);

	FUZZ_ASSERT(ctr_start(aes, iv, key, (int)keylen, 0, CTR_COUNTER_BIG_ENDIAN, &ref) == CRYPT_OK);
	FUZZ_ASSERT(ctr_encrypt(pt, want, len, &ref) == CRYPT_OK);
	ctr_done(&ref);
	FUZZ_ASSERT(ws_ctr_init(&ctr, key, keylen, iv) == 0);
	FUZZ_ASSERT(ws_ctr_crypt(&ctr, pt, got, cut) == 0);
	FUZZ_ASSERT(ws_ctr_crypt(&ctr, pt + cut, got + cut, len - cut) == 0);
	ws_ctr_free(&ctr);
	FUZZ_ASSERT(memcmp(got, want, len) == 0);
	FUZZ_ASSERT(ws_ctr_init(&ctr, key, keylen, iv) == 0);
	FUZZ_ASSERT(ws_ctr_crypt(&ctr, got, got, len) == 0);	/* in place */
	ws_ctr_free(&ctr);
	FUZZ_ASSERT(memcmp(got, pt, len) == 0);

	/* the MAC key: all 48 bytes of key and IV, as long as SHA-512's is */
	FUZZ_ASSERT(hmac_init(&h, big ? sha512 : sha256, key, 48) == CRYPT_OK);
	FUZZ_ASSERT(hmac_process(&h, seqbuf, 4) == CRYPT_OK);
	FUZZ_ASSERT(hmac_process(&h, want, len) == CRYPT_OK);
	FUZZ_ASSERT(hmac_done(&h, want_mac, &maclen) == CRYPT_OK);
	FUZZ_ASSERT(ws_hmac_init(&mac, big ? "SHA512" : "SHA256", key, 48) == 0);
	FUZZ_ASSERT(mac.len == maclen);
	FUZZ_ASSERT(ws_hmac_packet(&mac, seq, want, len, got_mac) == 0);
	FUZZ_ASSERT(memcmp(got_mac, want_mac, maclen) == 0);
	/* again on the same context: the per-packet restart from the pads */
	FUZZ_ASSERT(ws_hmac_packet(&mac, seq, want, len, got_mac) == 0);
	FUZZ_ASSERT(memcmp(got_mac, want_mac, maclen) == 0);
	ws_hmac_free(&mac);

	free(want);
	free(got);
	return 0;
}
