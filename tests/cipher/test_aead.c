/*
 * test_aead.c - known-answer tests for SSH's AEAD packet ciphers.
 *
 * Two implementations meet here.  libtomcrypt (what upstream Dropbear's
 * gcm.c and chachapoly.c use) is the reference: it must reproduce the
 * published vectors (McGrew-Viega / NIST GCM, RFC 8439 ChaCha20 and
 * Poly1305), and the SSH constructions are built on it exactly as upstream
 * builds them.  The libcrypto modes (dropbear/src/ws-evp-aead.c, when
 * ./configure enabled them) must then give the same bytes for the same
 * packets, reproduce the RFC 8439 key streams inside a packet, reject any
 * altered byte, and keep working across many packets of one key.
 */
#include "unit.h"
#include "hex.h"

#include <stdint.h>
#include <stdlib.h>
#include <tomcrypt.h>

#include "ws-evp-aead.h"

#ifndef WS_LIBCRYPTO_CIPHERS
#define WS_LIBCRYPTO_CIPHERS 0
#endif

#define TAG 16

/* ---- the reference: libtomcrypt, used as upstream uses it ---- */

static int aes_index(void) {
	static int idx = -2;
	if (idx == -2) {
		idx = register_cipher(&aes_desc);
	}
	return idx;
}

/* One chacha20-poly1305@openssh.com packet, as upstream's chachapoly.c. */
static int ref_chachapoly(const unsigned char *key, uint32_t seq, const unsigned char *in,
		unsigned char *out, size_t len) {
	chacha_state body, header;
	unsigned char nonce[8] = { 0 }, polykey[32];
	unsigned long taglen = TAG;
	int i;

	for (i = 0; i < 4; i++) {
		nonce[7 - i] = (unsigned char)(seq >> (8 * i));
	}
	if (chacha_setup(&body, key, 32, 20) != CRYPT_OK
			|| chacha_setup(&header, key + 32, 32, 20) != CRYPT_OK
			|| chacha_ivctr64(&body, nonce, 8, 0) != CRYPT_OK
			|| chacha_keystream(&body, polykey, sizeof(polykey)) != CRYPT_OK
			|| chacha_ivctr64(&header, nonce, 8, 0) != CRYPT_OK
			|| chacha_crypt(&header, in, 4, out) != CRYPT_OK
			|| chacha_ivctr64(&body, nonce, 8, 1) != CRYPT_OK
			|| chacha_crypt(&body, in + 4, len - 4, out + 4) != CRYPT_OK) {
		return -1;
	}
	return poly1305_memory(polykey, 32, out, len, out + len, &taglen) == CRYPT_OK ? 0 : -1;
}

/* McGrew and Viega, "The Galois/Counter Mode of Operation", test cases 3,
 * 4 and 16 (also NIST's gcmEncryptExtIV128/256 examples). */
static void test_ref_gcm_vectors(void) {
	static const struct {
		const char *key, *iv, *aad, *pt, *ct, *tag;
	} tv[] = {
		{ "feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888", "",
		  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
		  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
		  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
		  "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
		  "4d5c2af327cd64a62cf35abd2ba6fab4" },
		{ "feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
		  "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
		  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
		  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
		  "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
		  "5bc94fbc3221a5db94fae95ae7121a47" },
		{ "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
		  "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
		  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
		  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
		  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
		  "76fc6ece0f4e1768cddf8853bb2d551b" },
	};
	size_t i;

	for (i = 0; i < sizeof(tv) / sizeof(tv[0]); i++) {
		unsigned char key[32], iv[12], aad[20], pt[64], ct[64], tag[TAG];
		unsigned long taglen = TAG;
		size_t kl = unhex(tv[i].key, key, sizeof(key)), al = unhex(tv[i].aad, aad, sizeof(aad));
		size_t pl = unhex(tv[i].pt, pt, sizeof(pt));
		unhex(tv[i].iv, iv, sizeof(iv));
		CHECK(gcm_memory(aes_index(), key, kl, iv, 12, aad, al, pt, pl, ct, tag, &taglen,
				GCM_ENCRYPT) == CRYPT_OK);
		CHECK(same_hex(ct, pl, tv[i].ct));
		CHECK(same_hex(tag, TAG, tv[i].tag));
	}
}

/* RFC 8439 A.1 (ChaCha20 block, vectors 1, 2 and 5: the key streams the
 * packet tests below expect) and 2.5.2 (Poly1305). */
static const char *const KS_TV1 = /* key 0, nonce 0, counter 0 */
	"76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7"
	"da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586";
static const char *const KS_TV2 = /* key 0, nonce 0, counter 1 */
	"9f07e7be5551387a98ba977c732d080dcb0f29a048e3656912c6533e32ee7aed"
	"29b721769ce64e43d57133b074d839d531ed1f28510afb45ace10a1f4b794d6f";
static const char *const KS_TV5 = /* key 0, 64-bit nonce 2, counter 0 */
	"c2c64d378cd536374ae204b9ef933fcd1a8b2288b3dfa49672ab765b54ee27c7"
	"8a970e0e955c14f3a88e741b97c286f75f8fc299e8148362fa198a39531bed6d";

static void test_ref_chacha_poly_vectors(void) {
	unsigned char key[32] = { 0 }, nonce[8] = { 0 }, ks[64] = { 0 }, msg[64], tag[TAG];
	unsigned long taglen = TAG;
	chacha_state st;

	CHECK(chacha_setup(&st, key, 32, 20) == CRYPT_OK);
	CHECK(chacha_ivctr64(&st, nonce, 8, 0) == CRYPT_OK);
	CHECK(chacha_keystream(&st, ks, 64) == CRYPT_OK && same_hex(ks, 64, KS_TV1));
	CHECK(chacha_ivctr64(&st, nonce, 8, 1) == CRYPT_OK);
	CHECK(chacha_keystream(&st, ks, 64) == CRYPT_OK && same_hex(ks, 64, KS_TV2));
	nonce[7] = 2;
	CHECK(chacha_ivctr64(&st, nonce, 8, 0) == CRYPT_OK);
	CHECK(chacha_keystream(&st, ks, 64) == CRYPT_OK && same_hex(ks, 64, KS_TV5));

	unhex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b", key, 32);
	memcpy(msg, "Cryptographic Forum Research Group", 34);
	CHECK(poly1305_memory(key, 32, msg, 34, tag, &taglen) == CRYPT_OK);
	CHECK(same_hex(tag, TAG, "a8061dc1305136c6c22b8baf0c0127a9"));
}

typedef int (*chachapoly_fn)(const unsigned char *key, uint32_t seq, const unsigned char *in,
		unsigned char *out, size_t len);

/* All-zero keys and packet: the ciphertext is the key stream itself, the
 * tag Poly1305 under the first 32 bytes of block 0. */
static void chachapoly_key_streams(chachapoly_fn packet) {
	unsigned char key[64] = { 0 }, zero[4 + 64] = { 0 }, pkt[4 + 64 + TAG], ks[64], tag[TAG];
	unsigned long taglen = TAG;

	CHECK(packet(key, 0, zero, pkt, sizeof(zero)) == 0);
	CHECK(same_hex(pkt, 4, "76b8e0ad"));	/* header key, block 0 */
	unhex(KS_TV2, ks, sizeof(ks));
	CHECK(memcmp(pkt + 4, ks, 64) == 0);	/* main key from block 1 */
	unhex(KS_TV1, ks, sizeof(ks));
	CHECK(poly1305_memory(ks, 32, pkt, sizeof(zero), tag, &taglen) == CRYPT_OK);
	CHECK(memcmp(pkt + sizeof(zero), tag, TAG) == 0);

	/* sequence number 2 is the 64-bit nonce 2 (big-endian), RFC 8439 A.1 #5 */
	CHECK(packet(key, 2, zero, pkt, sizeof(zero)) == 0);
	CHECK(same_hex(pkt, 4, "c2c64d37"));
	unhex(KS_TV5, ks, sizeof(ks));
	CHECK(poly1305_memory(ks, 32, pkt, sizeof(zero), tag, &taglen) == CRYPT_OK);
	CHECK(memcmp(pkt + sizeof(zero), tag, TAG) == 0);
}

static void test_ref_chachapoly_key_streams(void) {
	chachapoly_key_streams(ref_chachapoly);
}

#if WS_LIBCRYPTO_CIPHERS

/* Deterministic filler, so a failure is reproducible. */
static void fill(unsigned char *p, size_t len, uint32_t seed) {
	size_t i;
	for (i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16);
	}
}

/* One aes-gcm@openssh.com packet: AAD = the 4-byte length, IV as given. */
static int ref_gcm(const unsigned char *key, size_t keylen, const unsigned char *iv,
		const unsigned char *in, unsigned char *out, size_t len) {
	unsigned long taglen = TAG;
	memcpy(out, in, 4);
	return gcm_memory(aes_index(), key, (unsigned long)keylen, iv, 12, in, 4,
			(unsigned char *)in + 4, len - 4, out + 4, out + len, &taglen,
			GCM_ENCRYPT) == CRYPT_OK ? 0 : -1;
}

/* Packet lengths as SSH makes them: 4-byte length + a multiple of the
 * block size (8 for chacha, 16 for GCM), from the smallest to a full
 * 32 KiB channel packet and beyond. */
static const size_t LENS[] = { 4 + 16, 4 + 32, 4 + 48, 4 + 1024, 4 + 16384 + 32, 4 + 32768 + 48,
	4 + 262144 };
#define NLENS (sizeof(LENS) / sizeof(LENS[0]))
#define MAXLEN (4 + 262144 + TAG)

static void gcm_against_ref(size_t keylen) {
	unsigned char key[32], iv[12], next_iv[12];
	unsigned char *pt = malloc(MAXLEN), *want = malloc(MAXLEN), *got = malloc(MAXLEN);
	struct ws_gcm enc, dec;
	size_t i;
	int k;

	fill(key, sizeof(key), (uint32_t)keylen);
	/* the counter's last bytes wrap within the first packets: the carry
	 * must stop at the 8-byte invocation field */
	unhex("0a0b0c0dfffffffffffffffe", iv, sizeof(iv));
	memcpy(next_iv, iv, sizeof(iv));
	CHECK(ws_gcm_init(&enc, key, keylen, iv) == 0);
	CHECK(ws_gcm_init(&dec, key, keylen, iv) == 0);
	for (i = 0; i < 3 * NLENS; i++) {
		size_t len = LENS[i % NLENS];
		fill(pt, len, (uint32_t)i);
		CHECK(ref_gcm(key, keylen, next_iv, pt, want, len) == 0);
		memcpy(got, pt, len);
		CHECK(ws_gcm_crypt(&enc, got, got, len, 1) == 0);	/* in place, as Dropbear */
		CHECK(memcmp(got, want, len + TAG) == 0);
		CHECK(ws_gcm_crypt(&dec, got, got, len, 0) == 0);
		CHECK(memcmp(got, pt, len) == 0);
		for (k = 11; k >= 4 && ++next_iv[k] == 0; k--) {
		}
	}
	CHECK(memcmp(next_iv, "\x0a\x0b\x0c\x0d", 4) == 0);	/* fixed field untouched */
	ws_gcm_free(&enc);
	ws_gcm_free(&dec);
	free(pt), free(want), free(got);
}

static void test_gcm128_matches_reference(void) {
	gcm_against_ref(16);
}

static void test_gcm256_matches_reference(void) {
	gcm_against_ref(32);
}

static void test_gcm_rejects_tampering(void) {
	unsigned char key[16] = { 1 }, iv[12] = { 2 }, pkt[4 + 64 + TAG], orig[sizeof(pkt)];
	size_t where[] = { 0, 3, 4, 40, 4 + 63, 4 + 64, 4 + 64 + 15 };
	size_t i;

	fill(pkt, sizeof(pkt), 7);
	CHECK(ref_gcm(key, sizeof(key), iv, pkt, orig, 4 + 64) == 0);
	for (i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		struct ws_gcm dec;
		CHECK(ws_gcm_init(&dec, key, sizeof(key), iv) == 0);
		memcpy(pkt, orig, sizeof(pkt));
		pkt[where[i]] ^= 0x01;
		CHECK(ws_gcm_crypt(&dec, pkt, pkt, 4 + 64, 0) == -1);
		ws_gcm_free(&dec);
	}
	{
		struct ws_gcm bad;
		CHECK(ws_gcm_init(&bad, key, 24, iv) == -1);	/* no aes192-gcm in SSH */
	}
}

/* One packet through the libcrypto mode, with a fresh state; the
 * length field must also decrypt back. */
static int evp_chachapoly(const unsigned char *key, uint32_t seq, const unsigned char *in,
		unsigned char *out, size_t len) {
	struct ws_chachapoly st;
	uint32_t plen, want = (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 | (uint32_t)in[2] << 8 | in[3];
	int rc;

	if (ws_chachapoly_init(&st, key) != 0) {
		return -1;
	}
	rc = ws_chachapoly_crypt(&st, seq, in, out, len, 1);
	if (rc == 0 && (ws_chachapoly_length(&st, seq, out, &plen) != 0 || plen != want)) {
		rc = -1;
	}
	ws_chachapoly_free(&st);
	return rc;
}

static void test_evp_chachapoly_key_streams(void) {
	chachapoly_key_streams(evp_chachapoly);
}

static void test_chachapoly_matches_reference(void) {
	unsigned char key[64];
	unsigned char *pt = malloc(MAXLEN), *want = malloc(MAXLEN), *got = malloc(MAXLEN);
	/* sequence numbers across byte boundaries and the 32-bit wrap */
	static const uint32_t seqs[] = { 0, 1, 2, 255, 256, 65536, 0x01020304, 0xfffffffe,
		0xffffffff };
	struct ws_chachapoly enc, dec;
	uint32_t plen;
	size_t i;

	fill(key, sizeof(key), 99);
	CHECK(ws_chachapoly_init(&enc, key) == 0);
	CHECK(ws_chachapoly_init(&dec, key) == 0);
	for (i = 0; i < 3 * NLENS; i++) {
		size_t len = LENS[i % NLENS];
		uint32_t seq = seqs[i % (sizeof(seqs) / sizeof(seqs[0]))];
		fill(pt, len, (uint32_t)i + 1000);
		pt[0] = (unsigned char)(len >> 24), pt[1] = (unsigned char)(len >> 16);
		pt[2] = (unsigned char)(len >> 8), pt[3] = (unsigned char)len;
		CHECK(ref_chachapoly(key, seq, pt, want, len) == 0);
		memcpy(got, pt, len);
		CHECK(ws_chachapoly_crypt(&enc, seq, got, got, len, 1) == 0);
		CHECK(memcmp(got, want, len + TAG) == 0);
		CHECK(ws_chachapoly_length(&dec, seq, got, &plen) == 0 && plen == len);
		CHECK(ws_chachapoly_crypt(&dec, seq, got, got, len, 0) == 0);
		CHECK(memcmp(got, pt, len) == 0);
	}
	ws_chachapoly_free(&enc);
	ws_chachapoly_free(&dec);
	free(pt), free(want), free(got);
}

static void test_chachapoly_rejects_tampering(void) {
	unsigned char key[64], pt[4 + 64], pkt[4 + 64 + TAG], orig[sizeof(pkt)], bad[sizeof(pkt)];
	size_t where[] = { 0, 3, 4, 40, 4 + 63, 4 + 64, 4 + 64 + 15 };
	struct ws_chachapoly dec;
	size_t i;

	fill(key, sizeof(key), 5);
	fill(pt, sizeof(pt), 6);
	CHECK(ref_chachapoly(key, 7, pt, orig, sizeof(pt)) == 0);
	CHECK(ws_chachapoly_init(&dec, key) == 0);
	for (i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		memcpy(bad, orig, sizeof(bad));
		bad[where[i]] ^= 0x80;
		memcpy(pkt, bad, sizeof(pkt));
		CHECK(ws_chachapoly_crypt(&dec, 7, pkt, pkt, sizeof(pt), 0) == -1);
		/* the tag is checked first: nothing was decrypted */
		CHECK(memcmp(pkt, bad, sizeof(pkt)) == 0);
	}
	/* the right packet under the wrong sequence number */
	memcpy(pkt, orig, sizeof(pkt));
	CHECK(ws_chachapoly_crypt(&dec, 8, pkt, pkt, sizeof(pt), 0) == -1);
	CHECK(memcmp(pkt, orig, sizeof(pkt)) == 0);
	CHECK(ws_chachapoly_crypt(&dec, 7, pkt, pkt, sizeof(pt), 0) == 0);
	CHECK(memcmp(pkt, pt, sizeof(pt)) == 0);
	ws_chachapoly_free(&dec);
}

#endif /* WS_LIBCRYPTO_CIPHERS */

UNIT_SUITE(cipher_tests) = {
	{ "ref: libtomcrypt AES-GCM reproduces McGrew-Viega/NIST vectors", test_ref_gcm_vectors },
	{ "ref: libtomcrypt ChaCha20/Poly1305 reproduce RFC 8439 vectors",
	  test_ref_chacha_poly_vectors },
	{ "ref: chacha20-poly1305 packets carry the RFC 8439 key streams",
	  test_ref_chachapoly_key_streams },
#if WS_LIBCRYPTO_CIPHERS
	{ "evp: aes128-gcm packets equal the reference", test_gcm128_matches_reference },
	{ "evp: aes256-gcm packets equal the reference", test_gcm256_matches_reference },
	{ "evp: aes-gcm rejects any altered byte", test_gcm_rejects_tampering },
	{ "evp: chacha20-poly1305 packets carry the RFC 8439 key streams",
	  test_evp_chachapoly_key_streams },
	{ "evp: chacha20-poly1305 packets equal the reference", test_chachapoly_matches_reference },
	{ "evp: chacha20-poly1305 rejects altered bytes before decrypting",
	  test_chachapoly_rejects_tampering },
#endif
	UNIT_END
};
