/*
 * ws-evp-modes.h - which cipher modes sshciphers[] uses for the AEAD and
 * AES-CTR ciphers: libcrypto's (ws-evp-modes.c) when ./configure enabled
 * them, otherwise upstream's libtomcrypt ones (gcm.c, chachapoly.c,
 * dropbear_mode_ctr); and, with libcrypto, the packet MAC's set-up.
 */
#ifndef WS_EVP_MODES_H
#define WS_EVP_MODES_H

/* ./configure passes 0 or 1; a build without it keeps libtomcrypt. */
#ifndef WS_LIBCRYPTO_CIPHERS
#define WS_LIBCRYPTO_CIPHERS 0
#endif

#if WS_LIBCRYPTO_CIPHERS
#include "ws-evp-aead.h"
#include "ws-evp-ctr.h"
#include "ws-evp-hmac.h"

struct dropbear_cipher_mode;
struct key_context_directional;
extern const struct dropbear_cipher_mode ws_evp_mode_gcm;
extern const struct dropbear_cipher_mode ws_evp_mode_chachapoly;
extern const struct dropbear_cipher_mode ws_evp_mode_ctr;
#define WS_MODE_GCM ws_evp_mode_gcm
#define WS_MODE_CHACHAPOLY ws_evp_mode_chachapoly
#define WS_MODE_CTR ws_evp_mode_ctr

/* Keys dir->ws_mac from dir->mackey when libcrypto does dir's MAC
 * (HMAC-SHA256/512), else leaves it empty (ctx NULL) for libtomcrypt.
 * Returns DROPBEAR_SUCCESS or DROPBEAR_FAILURE. */
int ws_mac_start(struct key_context_directional *dir);
/* Frees and wipes dir->ws_mac, before a rekey replaces it or at the end. */
void ws_mac_cleanup(struct key_context_directional *dir);
#else
#define WS_MODE_GCM dropbear_mode_gcm
#define WS_MODE_CHACHAPOLY dropbear_mode_chachapoly
#define WS_MODE_CTR dropbear_mode_ctr
#endif

#endif
