/*
 * ws-profiles.c - the runtime crypto profiles (see ws-profiles.h).  Copied
 * into the upstream tree by the build; ws_runopts_apply() (ws-runopts.c)
 * applies the one --crypto-profile names.
 */
#include "includes.h"
#include "dbutil.h"
#include "algo.h"
#include "buffer.h"
#include "runopts.h"
#include "ws-profiles.h"
#include "ws-runopts.h"

/* One runtime crypto profile: names of algorithms compiled in by
 * dropbear/localoptions.h, most preferred first.  Documented in docs/server.md. */
struct crypto_profile {
	const char *name;
	const char *kex, *ciphers, *macs;
};

#define KEX_PQ "mlkem768x25519-sha256,sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com"
#define KEX_X25519 "curve25519-sha256,curve25519-sha256@libssh.org"
#define CIPHERS_AEAD "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com"
#define CIPHERS_CTR "aes256-ctr,aes128-ctr"
#define MACS_ETM "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com"

static const struct crypto_profile profiles[] = {
	/* modern + finite-field DH and encrypt-and-MAC, for clients that
	 * predate curve25519 or ETM (old libssh2, JSch, embedded clients) */
	{ "compat", KEX_PQ "," KEX_X25519 ",diffie-hellman-group16-sha512,diffie-hellman-group14-sha256",
		CIPHERS_AEAD "," CIPHERS_CTR, MACS_ETM ",hmac-sha2-256,hmac-sha2-512" },
	/* what every current client speaks; PQ hybrids first */
	{ "modern", KEX_PQ "," KEX_X25519, CIPHERS_AEAD "," CIPHERS_CTR, MACS_ETM },
	/* PQ hybrid kex and AEAD only.  The MAC list is never used with AEAD
	 * ciphers, but some clients refuse a KEXINIT with an empty one. */
	{ "pq-only", KEX_PQ, CIPHERS_AEAD, MACS_ETM },
};
#define NPROFILES (sizeof(profiles) / sizeof(profiles[0]))
#define DEFAULT_PROFILE "modern"

static int algo_listed(const algo_type *algos, const char *name) {
	const algo_type *a;
	for (a = algos; a->name != NULL; a++) {
		if (strcmp(a->name, name) == 0) {
			return 1;
		}
	}
	return 0;
}

/* Reduces algos[] to `wanted`, in that order.  Entries without data in
 * sshkex[] are protocol markers (strict kex, ext-info, kexguess2), not
 * algorithms: they are kept whatever the profile. */
static void apply_list(const char *profile, const char *what, const char *wanted,
		algo_type *algos, int keep_markers) {
	buffer *list = buf_new(1000);
	char *names = m_strdup(wanted), *name, *save = NULL;
	const algo_type *a;

	for (name = strtok_r(names, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		/* a profile naming something localoptions.h left out is our bug */
		if (!algo_listed(algos, name)) {
			ws_option_exit("Crypto profile %s: %s algorithm %s is not compiled in",
				profile, what, name);
		}
	}
	buf_putbytes(list, (const unsigned char *)wanted, strlen(wanted));
	for (a = algos; keep_markers && a->name != NULL; a++) {
		if (a->data == NULL) {
			buf_putbyte(list, ',');
			buf_putbytes(list, (const unsigned char *)a->name, strlen(a->name));
		}
	}
	buf_putbyte(list, '\0');
	check_user_algos((const char *)list->data, algos, what);
	buf_free(list);
	m_free(names);
}

void ws_profile_apply(const char *name) {
	const struct crypto_profile *p = NULL;
	size_t i;

	if (name == NULL) {
		name = DEFAULT_PROFILE;
	}
	for (i = 0; i < NPROFILES; i++) {
		if (strcmp(profiles[i].name, name) == 0) {
			p = &profiles[i];
		}
	}
	if (p == NULL) {
		ws_option_exit("Unknown --crypto-profile '%s': expected compat, modern or pq-only", name);
	}
	apply_list(p->name, "kex", p->kex, sshkex, 1);
	apply_list(p->name, "cipher", p->ciphers, sshciphers, 0);
	apply_list(p->name, "MAC", p->macs, sshhashes, 0);
	/* Compressing before encrypting leaks plaintext through packet sizes,
	 * and costs the workspace's CPU: off in every profile. */
	opts.compression = 0;
}
