/*
 * What loading a cipher library costs one connection process: Private_Dirty
 * and heap growth, dlopen() time and the first use (a ChaCha20 key and
 * stream, a Poly1305 tag; for nettle AES-128-CTR and HMAC-SHA256), measured
 * in a fresh process per library (docs/benchmarks-memory.md).
 *   cc -std=c11 -D_GNU_SOURCE -O2 -o cipher-load cipher-load.c -ldl
 *   ./cipher-load crypto|gcrypt|nettle|sodium
 * Symbols come from dlsym(): no -dev package is needed, and the library is
 * loaded after the first smaps reading, as a lazy load would be.
 */
#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <stdint.h>
static long pd(void) {
	FILE *f = fopen("/proc/self/smaps_rollup", "r"); char l[256]; long v, r = 0;
	while (fgets(l, sizeof l, f)) if (sscanf(l, "Private_Dirty: %ld", &v) == 1) r = v;
	fclose(f); return r;
}
static long heap(void) { struct mallinfo2 m = mallinfo2(); return (long)(m.uordblks + m.hblkhd); }
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }
#define SYM(h, n) void *n = dlsym(h, #n); if (!n) { printf("no %s\n", #n); return 1; }
int main(int argc, char **argv) {
	const char *w = argc > 1 ? argv[1] : "crypto";
	unsigned char key[64] = {1}, iv[16] = {0}, buf[1024] = {0}, tag[32];
	long d0 = pd(), h0 = heap(); double t0 = now(), t1, t2;
	void *h;
	if (!strcmp(w, "crypto")) {
		h = dlopen("libcrypto.so.3", RTLD_NOW); t1 = now();
		SYM(h, OPENSSL_init_crypto) SYM(h, EVP_CIPHER_CTX_new) SYM(h, EVP_CipherInit_ex) SYM(h, EVP_chacha20)
		SYM(h, EVP_CipherUpdate) SYM(h, EVP_MAC_fetch) SYM(h, EVP_MAC_CTX_new) SYM(h, EVP_MAC_init)
		SYM(h, EVP_MAC_update) SYM(h, EVP_MAC_final)
		((int (*)(uint64_t, void *))OPENSSL_init_crypto)(0x80, NULL); /* NO_LOAD_CONFIG */
		void *c = ((void *(*)(void))EVP_CIPHER_CTX_new)();
		((int (*)(void *, const void *, void *, const void *, const void *, int))EVP_CipherInit_ex)(c, ((void *(*)(void))EVP_chacha20)(), NULL, key, iv, 1);
		int n; ((int (*)(void *, void *, int *, const void *, int))EVP_CipherUpdate)(c, buf, &n, buf, 1024);
		void *m = ((void *(*)(void *, const char *, const char *))EVP_MAC_fetch)(NULL, "POLY1305", NULL);
		void *mc = ((void *(*)(void *))EVP_MAC_CTX_new)(m); size_t l;
		((int (*)(void *, const void *, size_t, void *))EVP_MAC_init)(mc, key, 32, NULL);
		((int (*)(void *, const void *, size_t))EVP_MAC_update)(mc, buf, 1024);
		((int (*)(void *, void *, size_t *, size_t))EVP_MAC_final)(mc, tag, &l, 16);
	} else if (!strcmp(w, "gcrypt")) {
		h = dlopen("libgcrypt.so.20", RTLD_NOW); t1 = now();
		SYM(h, gcry_check_version) SYM(h, gcry_control) SYM(h, gcry_cipher_open) SYM(h, gcry_cipher_ctl)
		SYM(h, gcry_cipher_setkey) SYM(h, gcry_cipher_setiv) SYM(h, gcry_cipher_encrypt) SYM(h, gcry_mac_open)
		SYM(h, gcry_mac_setkey) SYM(h, gcry_mac_write) SYM(h, gcry_mac_read)
		((const char *(*)(const char *))gcry_check_version)(NULL);
		((int (*)(int, ...))gcry_control)(38 /* GCRYCTL_INITIALIZATION_FINISHED */, 0);
		void *c; ((int (*)(void **, int, int, unsigned))gcry_cipher_open)(&c, 316 /* CHACHA20 */, 4 /* STREAM */, 0);
		((int (*)(void *, const void *, size_t))gcry_cipher_setkey)(c, key, 32);
		((int (*)(void *, const void *, size_t))gcry_cipher_setiv)(c, iv, 16);
		((int (*)(void *, void *, size_t, const void *, size_t))gcry_cipher_encrypt)(c, buf, 1024, NULL, 0);
		void *m; ((int (*)(void **, int, unsigned, void *))gcry_mac_open)(&m, 501 /* POLY1305 */, 0, NULL);
		((int (*)(void *, const void *, size_t))gcry_mac_setkey)(m, key, 32);
		((int (*)(void *, const void *, size_t))gcry_mac_write)(m, buf, 1024);
		size_t l = 16; ((int (*)(void *, void *, size_t *))gcry_mac_read)(m, tag, &l);
	} else if (!strcmp(w, "nettle")) {
		h = dlopen("libnettle.so.8", RTLD_NOW); t1 = now();
		SYM(h, nettle_aes128_set_encrypt_key) SYM(h, nettle_aes128_encrypt) SYM(h, nettle_ctr_crypt)
		SYM(h, nettle_hmac_sha256_set_key) SYM(h, nettle_hmac_sha256_update) SYM(h, nettle_hmac_sha256_digest)
		static unsigned char actx[256], hctx[512];
		((void (*)(void *, const void *))nettle_aes128_set_encrypt_key)(actx, key);
		((void (*)(const void *, void *, size_t, void *, size_t, void *, const void *))nettle_ctr_crypt)(actx, nettle_aes128_encrypt, 16, iv, 1024, buf, buf);
		((void (*)(void *, size_t, const void *))nettle_hmac_sha256_set_key)(hctx, 32, key);
		((void (*)(void *, size_t, const void *))nettle_hmac_sha256_update)(hctx, 1024, buf);
		((void (*)(void *, size_t, void *))nettle_hmac_sha256_digest)(hctx, 32, tag);
	} else {
		h = dlopen("libsodium.so.23", RTLD_NOW); t1 = now();
		SYM(h, sodium_init) SYM(h, crypto_stream_chacha20_xor_ic) SYM(h, crypto_onetimeauth_poly1305)
		((int (*)(void))sodium_init)();
		((int (*)(void *, const void *, unsigned long long, const void *, uint64_t, const void *))crypto_stream_chacha20_xor_ic)(buf, buf, 1024, iv, 1, key);
		((int (*)(void *, const void *, unsigned long long, const void *))crypto_onetimeauth_poly1305)(tag, buf, 1024, key);
	}
	t2 = now();
	printf("%-7s Private_Dirty +%4ld KiB  heap +%4ld KiB  dlopen %.2f ms  first use %.2f ms\n",
	       w, pd() - d0, (heap() - h0) / 1024, t1 - t0, t2 - t1);
	return 0;
}
