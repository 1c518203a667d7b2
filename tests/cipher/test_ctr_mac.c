/*
 * test_ctr_mac.c - known-answer tests for aes128-ctr / aes256-ctr and the
 * HMAC-SHA2 packet MACs (hmac-sha2-256/512, plain and -etm).
 *
 * As in test_aead.c, libtomcrypt (what upstream Dropbear uses for these:
 * ctr_* with a big-endian counter, hmac_*) is the reference: it must
 * reproduce the published vectors (NIST SP 800-38A F.5.1/F.5.5 for
 * AES-CTR, RFC 4231 for HMAC-SHA256/512).  libcrypto's versions
 * (dropbear/src/ws-evp-ctr.c and ws-evp-hmac.c, when ./configure enabled
 * them) must reproduce the same vectors and give the reference's bytes on
 * pseudo-random keys, IVs and packets, across packet boundaries, counter
 * wrap-around and every sequence number edge.
 */
#include "unit.h"
#include "hex.h"

#include <stdint.h>
#include <stdlib.h>
#include <tomcrypt.h>

#include "ws-evp-aead.h"
#include "ws-evp-ctr.h"
#include "ws-evp-hmac.h"

#ifndef WS_LIBCRYPTO_CIPHERS
#define WS_LIBCRYPTO_CIPHERS 0
#endif

/* Deterministic pseudo-random bytes (xorshift32): reproducible failures. */
static void fill(unsigned char *p, size_t len, uint32_t seed) {
	uint32_t x = seed * 2654435761u + 1;
	size_t i;
	for (i = 0; i < len; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		p[i] = (unsigned char)(x >> 24);
	}
}

static int aes_index(void) {
	static int idx = -2;
	if (idx == -2) {
		idx = register_cipher(&aes_desc);
	}
	return idx;
}

static int hash_index(const struct ltc_hash_descriptor *desc) {
	return register_hash(desc);
}

/* ---- the vectors ---- */

/* NIST SP 800-38A F.5.1 (CTR-AES128) and F.5.5 (CTR-AES256): four blocks
 * from the initial counter f0f1...feff. */
static const char *const CTR_IV = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
static const char *const CTR_PT =
	"6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
	"30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";
static const struct {
	const char *key, *ct;
} CTR_TV[] = {
	{ "2b7e151628aed2a6abf7158809cf4f3c",
	  "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff"
	  "5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee" },
	{ "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
	  "601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c5"
	  "2b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6" },
};

/* RFC 4231 test cases 1, 2 and 6 (6: a key longer than the block). */
static const struct {
	const char *key_hex;
	size_t key_repeat;	/* key_hex's one byte repeated, when not 0 */
	const char *data, *sha256, *sha512;
} HMAC_TV[] = {
	{ "0b", 20, "Hi There",
	  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
	  "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
	  "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854" },
	{ "4a656665", 0, "what do ya want for nothing?",
	  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
	  "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
	  "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737" },
	{ "aa", 131, "Test Using Larger Than Block-Size Key - Hash Key First",
	  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
	  "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
	  "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598" },
};
#define N_HMAC_TV (sizeof(HMAC_TV) / sizeof(HMAC_TV[0]))

static size_t hmac_tv_key(size_t i, unsigned char *key, size_t max) {
	if (HMAC_TV[i].key_repeat == 0) {
		return unhex(HMAC_TV[i].key_hex, key, max);
	}
	unhex(HMAC_TV[i].key_hex, key, 1);
	memset(key, key[0], HMAC_TV[i].key_repeat);
	return HMAC_TV[i].key_repeat;
}

/* ---- the reference: libtomcrypt, used as upstream uses it ---- */

/* The key stream as upstream's dropbear_mode_ctr runs it. */
static int ref_ctr(const unsigned char *key, size_t keylen, const unsigned char *iv,
		const unsigned char *in, unsigned char *out, size_t len) {
	symmetric_CTR ctr;
	int rc = ctr_start(aes_index(), iv, key, (int)keylen, 0, CTR_COUNTER_BIG_ENDIAN, &ctr);
	if (rc == CRYPT_OK) {
		rc = ctr_encrypt(in, out, len, &ctr);
	}
	ctr_done(&ctr);
	return rc == CRYPT_OK ? 0 : -1;
}

/* One packet MAC as upstream's make_mac() computes it. */
static int ref_mac(const struct ltc_hash_descriptor *desc, const unsigned char *key,
		size_t keylen, uint32_t seq, const unsigned char *data, size_t len,
		unsigned char *out) {
	unsigned char seqbuf[4];
	unsigned long outlen = WS_HMAC_MAX_LEN;
	hmac_state h;

	STORE32H(seq, seqbuf);
	return hmac_init(&h, hash_index(desc), key, keylen) == CRYPT_OK
		&& hmac_process(&h, seqbuf, 4) == CRYPT_OK
		&& hmac_process(&h, data, len) == CRYPT_OK
		&& hmac_done(&h, out, &outlen) == CRYPT_OK ? 0 : -1;
}

static void test_ref_ctr_vectors(void) {
	unsigned char key[32], iv[16], pt[64], ct[64];
	size_t i;

	unhex(CTR_IV, iv, sizeof(iv));
	unhex(CTR_PT, pt, sizeof(pt));
	for (i = 0; i < sizeof(CTR_TV) / sizeof(CTR_TV[0]); i++) {
		size_t kl = unhex(CTR_TV[i].key, key, sizeof(key));
		CHECK(ref_ctr(key, kl, iv, pt, ct, sizeof(pt)) == 0);
		CHECK(same_hex(ct, sizeof(ct), CTR_TV[i].ct));
	}
}

/* RFC 4231's messages split as SSH's MAC input: the first four bytes read
 * as the sequence number, the rest as the packet. */
static uint32_t tv_seq(const char *data) {
	const unsigned char *d = (const unsigned char *)data;
	return (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3];
}

static void test_ref_hmac_vectors(void) {
	unsigned char key[160], mac[WS_HMAC_MAX_LEN];
	size_t i;

	for (i = 0; i < N_HMAC_TV; i++) {
		size_t kl = hmac_tv_key(i, key, sizeof(key)), dl = strlen(HMAC_TV[i].data);
		const unsigned char *rest = (const unsigned char *)HMAC_TV[i].data + 4;
		CHECK(ref_mac(&sha256_desc, key, kl, tv_seq(HMAC_TV[i].data), rest, dl - 4, mac) == 0);
		CHECK(same_hex(mac, 32, HMAC_TV[i].sha256));
		CHECK(ref_mac(&sha512_desc, key, kl, tv_seq(HMAC_TV[i].data), rest, dl - 4, mac) == 0);
		CHECK(same_hex(mac, 64, HMAC_TV[i].sha512));
	}
}

#if WS_LIBCRYPTO_CIPHERS

/* ---- libcrypto's: the vectors, then the reference's bytes ---- */

static void test_evp_ctr_vectors(void) {
	unsigned char key[32], iv[16], pt[64], buf[64];
	struct ws_ctr st;
	size_t i;

	unhex(CTR_IV, iv, sizeof(iv));
	unhex(CTR_PT, pt, sizeof(pt));
	for (i = 0; i < sizeof(CTR_TV) / sizeof(CTR_TV[0]); i++) {
		size_t kl = unhex(CTR_TV[i].key, key, sizeof(key));
		CHECK(ws_ctr_init(&st, key, kl, iv) == 0);
		/* in place and in two calls, as packet.c decrypts the first block
		 * before the rest */
		memcpy(buf, pt, sizeof(buf));
		CHECK(ws_ctr_crypt(&st, buf, buf, 16) == 0);
		CHECK(ws_ctr_crypt(&st, buf + 16, buf + 16, 48) == 0);
		CHECK(same_hex(buf, sizeof(buf), CTR_TV[i].ct));
		ws_ctr_free(&st);
		/* and back */
		CHECK(ws_ctr_init(&st, key, kl, iv) == 0);
		CHECK(ws_ctr_crypt(&st, buf, buf, sizeof(buf)) == 0);
		CHECK(memcmp(buf, pt, sizeof(pt)) == 0);
		ws_ctr_free(&st);
	}
	CHECK(ws_ctr_init(&st, key, 24, iv) == -1);	/* no aes192-ctr in SSH here */
	ws_ctr_free(&st);
}

/* One key stream through many packets of varied lengths, both key sizes,
 * IVs where the 128-bit counter carries across bytes and wraps to zero. */
static void test_evp_ctr_matches_reference(void) {
	static const size_t lens[] = { 16, 32, 48, 1024, 16 * 1000, 32768, 35008, 64, 4096 };
	static const char *const ivs[] = {
		"00000000000000000000000000000000", "0000000000000000fffffffffffffff0",
		"fffffffffffffffffffffffffffffff0", NULL, NULL,
	};
	size_t total = 0, i, k, v;
	unsigned char key[32], iv[16], *pt, *want, *got;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		total += lens[i];
	}
	pt = malloc(total), want = malloc(total), got = malloc(total);
	CHECK(pt != NULL && want != NULL && got != NULL);
	if (pt == NULL || want == NULL || got == NULL) {
		free(pt), free(want), free(got);
		return;
	}
	for (k = 16; k <= 32; k += 16) {
		for (v = 0; v < sizeof(ivs) / sizeof(ivs[0]); v++) {
			struct ws_ctr st;
			size_t off = 0;

			fill(key, k, (uint32_t)(k * 100 + v));
			if (ivs[v] != NULL) {
				unhex(ivs[v], iv, sizeof(iv));
			} else {
				fill(iv, sizeof(iv), (uint32_t)(k * 1000 + v));
			}
			fill(pt, total, (uint32_t)v);
			CHECK(ref_ctr(key, k, iv, pt, want, total) == 0);
			CHECK(ws_ctr_init(&st, key, k, iv) == 0);
			for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
				memcpy(got + off, pt + off, lens[i]);
				CHECK(ws_ctr_crypt(&st, got + off, got + off, lens[i]) == 0);
				off += lens[i];
			}
			CHECK(memcmp(got, want, total) == 0);
			ws_ctr_free(&st);
		}
	}
	free(pt), free(want), free(got);
}

static void test_evp_hmac_vectors(void) {
	unsigned char key[160], mac[WS_HMAC_MAX_LEN];
	struct ws_hmac h256, h512;
	size_t i;

	for (i = 0; i < N_HMAC_TV; i++) {
		size_t kl = hmac_tv_key(i, key, sizeof(key)), dl = strlen(HMAC_TV[i].data);
		const unsigned char *rest = (const unsigned char *)HMAC_TV[i].data + 4;
		uint32_t seq = tv_seq(HMAC_TV[i].data);
		int round;

		CHECK(ws_hmac_init(&h256, "SHA256", key, kl) == 0 && h256.len == 32);
		CHECK(ws_hmac_init(&h512, "SHA512", key, kl) == 0 && h512.len == 64);
		/* twice: the second restarts from the saved pads */
		for (round = 0; round < 2; round++) {
			CHECK(ws_hmac_packet(&h256, seq, rest, dl - 4, mac) == 0);
			CHECK(same_hex(mac, 32, HMAC_TV[i].sha256));
			CHECK(ws_hmac_packet(&h512, seq, rest, dl - 4, mac) == 0);
			CHECK(same_hex(mac, 64, HMAC_TV[i].sha512));
		}
		ws_hmac_free(&h256);
		ws_hmac_free(&h512);
	}
	CHECK(ws_hmac_init(&h256, "NO-SUCH-DIGEST", key, 32) == -1);
	ws_hmac_free(&h256);
}

/* The reference's MAC for every packet of a run on one context: SSH's key
 * lengths and others, empty to 35000-byte packets, sequence numbers at
 * their edges. */
static void test_evp_hmac_matches_reference(void) {
	static const size_t lens[] = { 0, 1, 4, 63, 64, 65, 127, 128, 129, 1000, 32768, 35000 };
	static const uint32_t seqs[] = { 0, 1, 2, 0x7fffffffu, 0x80000000u, 0xfffffffeu, 0xffffffffu };
	static const size_t keylens[] = { 32, 64, 1, 100, 129 };
	const struct ltc_hash_descriptor *descs[] = { &sha256_desc, &sha512_desc };
	const char *names[] = { "SHA256", "SHA512" };
	unsigned char key[129], want[WS_HMAC_MAX_LEN], got[WS_HMAC_MAX_LEN], *data;
	size_t d, k, i;

	data = malloc(35000);
	CHECK(data != NULL);
	if (data == NULL) {
		return;
	}
	for (d = 0; d < 2; d++) {
		for (k = 0; k < sizeof(keylens) / sizeof(keylens[0]); k++) {
			struct ws_hmac h;
			fill(key, keylens[k], (uint32_t)(d * 10 + k));
			CHECK(ws_hmac_init(&h, names[d], key, keylens[k]) == 0);
			for (i = 0; i < 3 * sizeof(lens) / sizeof(lens[0]); i++) {
				size_t len = lens[i % (sizeof(lens) / sizeof(lens[0]))];
				uint32_t seq = seqs[i % (sizeof(seqs) / sizeof(seqs[0]))];
				fill(data, len, (uint32_t)(i + 7 * k + 100 * d));
				CHECK(ref_mac(descs[d], key, keylens[k], seq, data, len, want) == 0);
				memset(got, 0, sizeof(got));
				CHECK(ws_hmac_packet(&h, seq, data, len, got) == 0);
				CHECK(memcmp(got, want, descs[d]->hashsize) == 0);
			}
			ws_hmac_free(&h);
		}
	}
	free(data);
}

/* A changed sequence number, data byte or key changes the MAC (what
 * checkmac() relies on to reject a packet). */
static void test_evp_hmac_distinguishes(void) {
	unsigned char key[32], data[100], mac[32], other[32];
	struct ws_hmac h, h2;

	fill(key, sizeof(key), 1);
	fill(data, sizeof(data), 2);
	CHECK(ws_hmac_init(&h, "SHA256", key, sizeof(key)) == 0);
	CHECK(ws_hmac_packet(&h, 5, data, sizeof(data), mac) == 0);
	CHECK(ws_hmac_packet(&h, 6, data, sizeof(data), other) == 0);
	CHECK(memcmp(mac, other, sizeof(mac)) != 0);
	data[99] ^= 1;
	CHECK(ws_hmac_packet(&h, 5, data, sizeof(data), other) == 0);
	CHECK(memcmp(mac, other, sizeof(mac)) != 0);
	data[99] ^= 1;
	key[0] ^= 1;
	CHECK(ws_hmac_init(&h2, "SHA256", key, sizeof(key)) == 0);
	CHECK(ws_hmac_packet(&h2, 5, data, sizeof(data), other) == 0);
	CHECK(memcmp(mac, other, sizeof(mac)) != 0);
	CHECK(ws_hmac_packet(&h, 5, data, sizeof(data), other) == 0);
	CHECK(memcmp(mac, other, sizeof(mac)) == 0);
	ws_hmac_free(&h);
	ws_hmac_free(&h2);
}

#endif /* WS_LIBCRYPTO_CIPHERS */

UNIT_SUITE(ctr_mac_tests) = {
	{ "ref: libtomcrypt AES-CTR reproduces NIST SP 800-38A F.5.1/F.5.5", test_ref_ctr_vectors },
	{ "ref: libtomcrypt HMAC-SHA256/512 reproduce RFC 4231", test_ref_hmac_vectors },
#if WS_LIBCRYPTO_CIPHERS
	{ "evp: aes-ctr reproduces NIST SP 800-38A F.5.1/F.5.5", test_evp_ctr_vectors },
	{ "evp: aes128/256-ctr key streams equal the reference", test_evp_ctr_matches_reference },
	{ "evp: HMAC-SHA256/512 reproduce RFC 4231", test_evp_hmac_vectors },
	{ "evp: packet MACs equal the reference", test_evp_hmac_matches_reference },
	{ "evp: packet MACs depend on sequence number, data and key",
	  test_evp_hmac_distinguishes },
#endif
	UNIT_END
};
