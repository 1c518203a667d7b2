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
