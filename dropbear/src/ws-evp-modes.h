/*
 * ws-evp-modes.h - which cipher modes sshciphers[] uses for the AEAD
 * ciphers: libcrypto's (ws-evp-modes.c) when ./configure enabled them,
 * otherwise upstream's libtomcrypt ones (gcm.c, chachapoly.c).
 */
#ifndef WS_EVP_MODES_H
#define WS_EVP_MODES_H

/* ./configure passes 0 or 1; a build without it keeps libtomcrypt. */
#ifndef WS_LIBCRYPTO_CIPHERS
#define WS_LIBCRYPTO_CIPHERS 0
#endif

#if WS_LIBCRYPTO_CIPHERS
#include "ws-evp-aead.h"

struct dropbear_cipher_mode;
extern const struct dropbear_cipher_mode ws_evp_mode_gcm;
extern const struct dropbear_cipher_mode ws_evp_mode_chachapoly;
#define WS_MODE_GCM ws_evp_mode_gcm
#define WS_MODE_CHACHAPOLY ws_evp_mode_chachapoly
#else
#define WS_MODE_GCM dropbear_mode_gcm
#define WS_MODE_CHACHAPOLY dropbear_mode_chachapoly
#endif

#endif
