/*
 * ws-profiles.h - the runtime crypto profiles (--crypto-profile): named
 * subsets of the algorithms dropbear/localoptions.h compiles in, so that one
 * image serves deployments with different needs (docs/server.md, "Crypto profiles").
 */
#ifndef WS_PROFILES_H
#define WS_PROFILES_H

/* Reduces the server's kex, cipher and MAC lists to the profile's (NULL:
 * the default, modern) and turns compression off; exits on an unknown
 * name.  Runs before -Q prints the lists, and before the listener binds. */
void ws_profile_apply(const char *name);

#endif
