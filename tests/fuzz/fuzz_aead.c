/*
 * fuzz_aead.c - the libcrypto AEAD packet ciphers (dropbear/src/ws-evp-aead.c)
 * on packets a client controls.  Upstream's fuzzers replace the receive
 * cipher with "none", so this is where decryption meets hostile input:
 * a forged packet never decrypts, and any packet encrypted with the key
 * decrypts to itself, and not once a single bit of it is changed.
 * Input: one byte (cipher, in place or not, which bit to flip), a 4-byte
 * sequence number, then the packet: LEN(4) || body || tag(16) to decrypt,
 * and the same bytes as a plaintext to encrypt.
 */
#include <string.h>

#include "fuzz.h"
#include "ws-evp-aead.h"

static const unsigned char key[64] = "0123456789abcdef0123456789abcdefFEDCBA9876543210fedcba9876543210";
static const unsigned char iv[WS_GCM_IV_LEN] = "fixed-iv-123";

struct state {
	int chacha;
	struct ws_gcm gcm;
	struct ws_chachapoly cp;
};

static void start(struct state *st, unsigned int choice) {
	st->chacha = (choice & 2) != 0;
	if (st->chacha) {
		FUZZ_ASSERT(ws_chachapoly_init(&st->cp, key) == 0);
	} else {
		FUZZ_ASSERT(ws_gcm_init(&st->gcm, key, (choice & 1) ? 32 : 16, iv) == 0);
	}
}

static int aead(struct state *st, uint32_t seq, const unsigned char *in, unsigned char *out,
		size_t len, int encrypt) {
	return st->chacha ? ws_chachapoly_crypt(&st->cp, seq, in, out, len, encrypt)
		: ws_gcm_crypt(&st->gcm, in, out, len, encrypt);
}

static void stop(struct state *st) {
	if (st->chacha) {
		ws_chachapoly_free(&st->cp);
	} else {
		ws_gcm_free(&st->gcm);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	unsigned int choice;
	uint32_t seq;
	size_t len, bit;
	unsigned char *pkt, *sealed, *opened;
	struct state st;

	if (size < 5 + 4 + WS_AEAD_TAG_LEN) {
		return 0;
	}
	choice = data[0];
	seq = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 | data[4];
	len = size - 5 - WS_AEAD_TAG_LEN;
	/* exact-size copies, so that a read or write past them is caught */
	pkt = malloc(len + WS_AEAD_TAG_LEN);
	sealed = malloc(len + WS_AEAD_TAG_LEN);
	opened = malloc(len);
	FUZZ_ASSERT(pkt != NULL && sealed != NULL && opened != NULL);
	memcpy(pkt, data + 5, len + WS_AEAD_TAG_LEN);

	/* a packet from outside: the fuzzer cannot forge a tag */
	start(&st, choice);
	FUZZ_ASSERT(aead(&st, seq, pkt, opened, len, 0) != 0);
	stop(&st);

	/* the same bytes sealed with the key open again, in place or not */
	start(&st, choice);
	FUZZ_ASSERT(aead(&st, seq, pkt, sealed, len, 1) == 0);
	stop(&st);
	if (st.chacha) {
		uint32_t plen = 0;
		start(&st, choice);
		FUZZ_ASSERT(ws_chachapoly_length(&st.cp, seq, sealed, &plen) == 0);
		FUZZ_ASSERT(plen == ((uint32_t)pkt[0] << 24 | (uint32_t)pkt[1] << 16
			| (uint32_t)pkt[2] << 8 | pkt[3]));
		stop(&st);
	}
	start(&st, choice);
	if (choice & 4) {
		memcpy(opened, sealed, len);
		FUZZ_ASSERT(aead(&st, seq, sealed, sealed, len, 0) == 0);
		FUZZ_ASSERT(memcmp(sealed, pkt, len) == 0);
		memcpy(sealed, opened, len); /* sealed again, for the bit flip */
	} else {
		FUZZ_ASSERT(aead(&st, seq, sealed, opened, len, 0) == 0);
		FUZZ_ASSERT(memcmp(opened, pkt, len) == 0);
	}
	stop(&st);

	/* one flipped bit anywhere in the packet or its tag: refused */
	bit = (size_t)(choice >> 3) * 7919 % ((len + WS_AEAD_TAG_LEN) * 8);
	sealed[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	start(&st, choice);
	FUZZ_ASSERT(aead(&st, seq, sealed, opened, len, 0) != 0);
	stop(&st);

	free(pkt);
	free(sealed);
	free(opened);
	return 0;
}
