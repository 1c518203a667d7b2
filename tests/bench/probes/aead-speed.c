/*
 * Single-core MB/s of chacha20-poly1305@openssh.com (OpenSSH's construction:
 * the Poly1305 key is ChaCha20 block 0, the tag covers the ciphertext, the
 * payload starts at block 1) and of AES-GCM over 32 KiB packets, per library
 * Debian 12 ships (docs/benchmarks-memory.md).  A benchmark, not a test:
 * outputs are not checked here (tests/cipher checks the server's own).
 *   cc -std=c11 -D_GNU_SOURCE -O2 -o aead-speed aead-speed.c -ltomcrypt -lcrypto \
 *      -lnettle -lgcrypt -l:libsodium.so.23
 *   ./aead-speed [MiB]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stdint.h>
#include <tomcrypt.h>
#include <openssl/evp.h>
#include <nettle/gcm.h>
#include <gcrypt.h>
/* libsodium 1.0.18's ABI (libsodium23; no -dev headers needed) */
int sodium_init(void);
int crypto_stream_chacha20_xor_ic(unsigned char *c, const unsigned char *m, unsigned long long mlen,
	const unsigned char *n, uint64_t ic, const unsigned char *k);
int crypto_onetimeauth_poly1305(unsigned char *out, const unsigned char *in, unsigned long long inlen,
	const unsigned char *k);
int crypto_aead_aes256gcm_encrypt_detached(unsigned char *c, unsigned char *mac, unsigned long long *maclen_p,
	const unsigned char *m, unsigned long long mlen, const unsigned char *ad, unsigned long long adlen,
	const unsigned char *nsec, const unsigned char *npub, const unsigned char *k);
#define PKT 32768
static unsigned char buf[PKT + 64], key[64] = {7}, nonce[12] = {1}, tag[16], pk[32];
static double cpu(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static void report(const char *what, int n, double t0) {
	printf("%-40s %6.0f MB/s\n", what, n * (double)PKT / 1e6 / (cpu() - t0));
}
int main(int argc, char **argv) {
	int n = (argc > 1 ? atoi(argv[1]) : 64) * 1024 * 1024 / PKT, i, ol;
	double t0;
	uint64_t seq;
	/* libtomcrypt chacha20 + poly1305 */
	chacha_state cs; unsigned long tl;
	t0 = cpu();
	for (seq = 0; seq < (uint64_t)n; seq++) {
		unsigned char sn[8]; for (i = 0; i < 8; i++) sn[i] = (unsigned char)(seq >> (56 - 8 * i));
		memset(pk, 0, 32);
		chacha_setup(&cs, key, 32, 20); chacha_ivctr64(&cs, sn, 8, 0); chacha_crypt(&cs, pk, 32, pk);
		chacha_ivctr64(&cs, sn, 8, 1); chacha_crypt(&cs, buf, PKT, buf);
		tl = 16; poly1305_memory(pk, 32, buf, PKT, tag, &tl);
	}
	report("chachapoly libtomcrypt 1.18", n, t0);
	/* libcrypto */
	EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new();
	EVP_CipherInit_ex(e, EVP_chacha20(), NULL, key, NULL, 1);
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "POLY1305", NULL); EVP_MAC_CTX *mc = EVP_MAC_CTX_new(mac); size_t ml;
	t0 = cpu();
	for (seq = 0; seq < (uint64_t)n; seq++) {
		unsigned char iv[16] = {0}; for (i = 0; i < 8; i++) iv[15 - i] = (unsigned char)(seq >> (8 * i));
		memset(pk, 0, 32);
		EVP_CipherInit_ex(e, NULL, NULL, NULL, iv, 1); EVP_CipherUpdate(e, pk, &ol, pk, 32);
		iv[0] = 1; EVP_CipherInit_ex(e, NULL, NULL, NULL, iv, 1); EVP_CipherUpdate(e, buf, &ol, buf, PKT);
		EVP_MAC_init(mc, pk, 32, NULL); EVP_MAC_update(mc, buf, PKT); EVP_MAC_final(mc, tag, &ml, 16);
	}
	report("chachapoly libcrypto 3.0", n, t0);
	/* libsodium */
	sodium_init();
	t0 = cpu();
	for (seq = 0; seq < (uint64_t)n; seq++) {
		unsigned char sn[8]; for (i = 0; i < 8; i++) sn[i] = (unsigned char)(seq >> (56 - 8 * i));
		memset(pk, 0, 32);
		crypto_stream_chacha20_xor_ic(pk, pk, 32, sn, 0, key);
		crypto_stream_chacha20_xor_ic(buf, buf, PKT, sn, 1, key);
		crypto_onetimeauth_poly1305(tag, buf, PKT, pk);
	}
	report("chachapoly libsodium 1.0.18", n, t0);
	/* libgcrypt */
	gcry_check_version(NULL);
	gcry_cipher_hd_t gh; gcry_mac_hd_t gp;
	gcry_cipher_open(&gh, GCRY_CIPHER_CHACHA20, GCRY_CIPHER_MODE_STREAM, 0); gcry_cipher_setkey(gh, key, 32);
	gcry_mac_open(&gp, GCRY_MAC_POLY1305, 0, NULL);
	t0 = cpu();
	for (seq = 0; seq < (uint64_t)n; seq++) {
		unsigned char iv[16] = {0}; /* gcrypt: 16-byte IV = 64-bit LE counter || 64-bit nonce */
		for (i = 0; i < 8; i++) iv[15 - i] = (unsigned char)(seq >> (8 * i));
		memset(pk, 0, 32);
		gcry_cipher_setiv(gh, iv, 16); gcry_cipher_encrypt(gh, pk, 32, NULL, 0);
		iv[0] = 1; gcry_cipher_setiv(gh, iv, 16); gcry_cipher_encrypt(gh, buf, PKT, NULL, 0);
		gcry_mac_setkey(gp, pk, 32); gcry_mac_write(gp, buf, PKT); size_t l = 16; gcry_mac_read(gp, tag, &l);
	}
	report("chachapoly libgcrypt 1.10", n, t0);
	/* aes128-gcm: libcrypto, nettle, libgcrypt; libsodium has aes256-gcm only */
	EVP_CIPHER_CTX *g = EVP_CIPHER_CTX_new(); EVP_EncryptInit_ex(g, EVP_aes_128_gcm(), NULL, key, NULL);
	t0 = cpu();
	for (i = 0; i < n; i++) {
		EVP_EncryptInit_ex(g, NULL, NULL, NULL, nonce); EVP_EncryptUpdate(g, NULL, &ol, buf, 4);
		EVP_EncryptUpdate(g, buf + 4, &ol, buf + 4, PKT - 4); EVP_EncryptFinal_ex(g, tag, &ol);
		EVP_CIPHER_CTX_ctrl(g, EVP_CTRL_AEAD_GET_TAG, 16, tag);
	}
	report("aes128-gcm libcrypto 3.0", n, t0);
	struct gcm_aes128_ctx ng; gcm_aes128_set_key(&ng, key);
	t0 = cpu();
	for (i = 0; i < n; i++) {
		gcm_aes128_set_iv(&ng, 12, nonce); gcm_aes128_update(&ng, 4, buf);
		gcm_aes128_encrypt(&ng, PKT - 4, buf + 4, buf + 4); gcm_aes128_digest(&ng, 16, tag);
	}
	report("aes128-gcm nettle 3.8", n, t0);
	gcry_cipher_hd_t gg; gcry_cipher_open(&gg, GCRY_CIPHER_AES128, GCRY_CIPHER_MODE_GCM, 0); gcry_cipher_setkey(gg, key, 16);
	t0 = cpu();
	for (i = 0; i < n; i++) {
		gcry_cipher_setiv(gg, nonce, 12); gcry_cipher_authenticate(gg, buf, 4);
		gcry_cipher_encrypt(gg, buf + 4, PKT - 4, NULL, 0); gcry_cipher_gettag(gg, tag, 16);
	}
	report("aes128-gcm libgcrypt 1.10", n, t0);
	unsigned long long mlen;
	t0 = cpu();
	for (i = 0; i < n; i++)
		crypto_aead_aes256gcm_encrypt_detached(buf + 4, tag, &mlen, buf + 4, PKT - 4, buf, 4, NULL, nonce, key);
	report("aes256-gcm libsodium 1.0.18", n, t0);
	return 0;
}
