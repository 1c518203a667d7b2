/*
 * Single-core MB/s of aes128-ctr with hmac-sha2-256 (the ETM MAC over each
 * 32 KiB packet), the cipher and the MAC timed apart, per library: why the
 * CTR ciphers are slow on libtomcrypt and what each alternative would give
 * (docs/benchmarks-memory.md).  A benchmark, not a test.
 *   cc -std=c11 -D_GNU_SOURCE -O2 -o ctr-speed ctr-speed.c -ltomcrypt -lcrypto -lnettle -lgcrypt
 *   ./ctr-speed [MiB]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <tomcrypt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <nettle/aes.h>
#include <nettle/ctr.h>
#include <nettle/hmac.h>
#include <gcrypt.h>
#define PKT 32768
static unsigned char buf[PKT + 64], key[32] = {7}, iv[16] = {1}, mk[32] = {3}, tag[32];
static double cpu(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static void report(const char *what, int n, double t0, double c, double m) {
	printf("%-28s %7.0f MB/s (cipher %5.0f, MAC %5.0f)\n", what, n * (double)PKT / 1e6 / (cpu() - t0),
	       n * (double)PKT / 1e6 / c, n * (double)PKT / 1e6 / m);
}
int main(int argc, char **argv) {
	int n = (argc > 1 ? atoi(argv[1]) : 64) * 1024 * 1024 / PKT, i;
	double t0, t, c, m;
	/* libtomcrypt */
	register_cipher(&aes_desc); register_hash(&sha256_desc);
	symmetric_CTR ctr; hmac_state hs; unsigned long tl;
	ctr_start(find_cipher("aes"), iv, key, 16, 0, CTR_COUNTER_BIG_ENDIAN, &ctr);
	t0 = cpu(); c = m = 0;
	for (i = 0; i < n; i++) {
		t = cpu(); ctr_encrypt(buf, buf, PKT, &ctr); c += cpu() - t;
		t = cpu(); hmac_init(&hs, find_hash("sha256"), mk, 32); hmac_process(&hs, buf, PKT);
		tl = 32; hmac_done(&hs, tag, &tl); m += cpu() - t;
	}
	report("libtomcrypt 1.18", n, t0, c, m);
	/* libcrypto EVP */
	EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new(); int ol;
	EVP_EncryptInit_ex(e, EVP_aes_128_ctr(), NULL, key, iv);
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL); EVP_MAC_CTX *mc = EVP_MAC_CTX_new(mac);
	OSSL_PARAM prm[] = { OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0), OSSL_PARAM_construct_end() };
	size_t ml;
	t0 = cpu(); c = m = 0;
	for (i = 0; i < n; i++) {
		t = cpu(); EVP_EncryptUpdate(e, buf, &ol, buf, PKT); c += cpu() - t;
		t = cpu(); EVP_MAC_init(mc, mk, 32, prm); EVP_MAC_update(mc, buf, PKT); EVP_MAC_final(mc, tag, &ml, 32); m += cpu() - t;
	}
	report("libcrypto 3.0 EVP", n, t0, c, m);
	/* nettle */
	struct aes128_ctx na; struct hmac_sha256_ctx nh; unsigned char nctr[16];
	aes128_set_encrypt_key(&na, key); memcpy(nctr, iv, 16);
	t0 = cpu(); c = m = 0;
	for (i = 0; i < n; i++) {
		t = cpu(); ctr_crypt(&na, (nettle_cipher_func *)aes128_encrypt, 16, nctr, PKT, buf, buf); c += cpu() - t;
		t = cpu(); hmac_sha256_set_key(&nh, 32, mk); hmac_sha256_update(&nh, PKT, buf); hmac_sha256_digest(&nh, 32, tag); m += cpu() - t;
	}
	report("nettle 3.8", n, t0, c, m);
	/* libgcrypt */
	gcry_check_version(NULL);
	gcry_cipher_hd_t gh; gcry_md_hd_t gm;
	gcry_cipher_open(&gh, GCRY_CIPHER_AES128, GCRY_CIPHER_MODE_CTR, 0); gcry_cipher_setkey(gh, key, 16); gcry_cipher_setctr(gh, iv, 16);
	gcry_md_open(&gm, GCRY_MD_SHA256, GCRY_MD_FLAG_HMAC); 
	t0 = cpu(); c = m = 0;
	for (i = 0; i < n; i++) {
		t = cpu(); gcry_cipher_encrypt(gh, buf, PKT, NULL, 0); c += cpu() - t;
		t = cpu(); gcry_md_reset(gm); gcry_md_setkey(gm, mk, 32); gcry_md_write(gm, buf, PKT); memcpy(tag, gcry_md_read(gm, 0), 32); m += cpu() - t;
	}
	report("libgcrypt 1.10", n, t0, c, m);
	return 0;
}
