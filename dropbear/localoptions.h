/*
 * ssh-workspace compile-time options for the Dropbear fork.
 * Upstream documents every option in src/default_options.h; only what we
 * change is here.  The build appends DROPBEAR_VERSION (from dropbear/pin).
 */

/* Key-only authentication: password auth is compiled out, so it is not
 * even offered (PAM is off upstream already). */
#define DROPBEAR_SVR_PASSWORD_AUTH 0
#define DROPBEAR_SVR_PAM_AUTH 0

/* A workspace has no display. */
#define DROPBEAR_X11FWD 0

/* Fewer failed attempts per connection than upstream's 10. */
#define MAX_AUTH_TRIES 6

/* Debian's OpenSSH sftp-server (package openssh-sftp-server). */
#define SFTPSERVER_PATH "/usr/lib/openssh/sftp-server"

/* Sessions get /usr/local/bin too: tools installed into the image live there. */
#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"

/* The workspace prints its own banner, not /etc/motd. */
#define DO_MOTD 0

/* --- Hardened algorithms.  Runtime profiles (--crypto-profile,
 * dropbear/src/ws-profiles.c) pick from what is compiled in here; this is the
 * widest set any profile may offer. --- */

/* AEAD first: chacha20-poly1305 leads sshciphers[] upstream; AES-GCM is
 * added because AES-NI makes it the fastest AEAD on x86 and pq-only needs
 * more than one AEAD.  CTR stays for clients without AEAD, now with
 * encrypt-then-MAC (patch 0010).  No CBC, no 3DES. */
#define DROPBEAR_ENABLE_GCM_MODE 1
#define DROPBEAR_ENABLE_CTR_MODE 1
#define DROPBEAR_ENABLE_CBC_MODE 0
#define DROPBEAR_3DES 0

/* No SHA-1 anywhere: MACs, RSA signatures, kex. */
#define DROPBEAR_SHA1_HMAC 0
#define DROPBEAR_SHA1_96_HMAC 0
#define DROPBEAR_SHA2_256_HMAC 1
#define DROPBEAR_SHA2_512_HMAC 1
#define DROPBEAR_RSA_SHA1 0
#define DROPBEAR_DH_GROUP14_SHA1 0
#define DROPBEAR_DH_GROUP1 0

/* DSS is 1024-bit with SHA-1. */
#define DROPBEAR_DSS 0

/* Post-quantum hybrids lead sshkex[] upstream.  NIST ECDH is out (ssh-audit
 * fails it); group14-sha256 and group16 remain for the compat profile only. */
#define DROPBEAR_MLKEM768 1
#define DROPBEAR_SNTRUP761 1
#define DROPBEAR_CURVE25519 1
#define DROPBEAR_ECDH 0
#define DROPBEAR_DH_GROUP14_SHA256 1
#define DROPBEAR_DH_GROUP16 1

/* Speed over binary size: the workspace image is not size-constrained. */
#define DROPBEAR_SMALL_CODE 0

/* The 24 KiB default window halves bulk throughput (measured: 143 vs 384
 * MiB/s at 256 KiB); 2 MiB keeps a long fat pipe full.  Still per channel
 * and capped by MAX_RECV_WINDOW (10 MB); -W overrides it. */
#define DEFAULT_RECV_WINDOW (2 * 1024 * 1024)

/* Send channel data in packets of up to 32 KiB, as OpenSSH does (upstream:
 * 16 KiB).  Half the packets for a download: half the per-packet syscalls,
 * MACs and buffer allocations.  Every SSH implementation must accept
 * 32768-byte payloads (RFC 4253 6.1), and the peer's maximum packet size
 * from its channel open still caps it. */
#define TRANS_MAX_PAYLOAD_LEN 32768

/* Connections behind kubectl port-forward or a load balancer die silently:
 * keepalives find them (3 missed = gone) and keep idle NAT state alive.
 * -K overrides; idle timeout (-I) stays off, an idle-culler decides. */
#define DEFAULT_KEEPALIVE 30

/* Bursts of logins arrive faster than the listener forks; a deeper accept
 * queue keeps them waiting instead of retransmitting SYNs. */
#define DROPBEAR_LISTEN_BACKLOG 1024
