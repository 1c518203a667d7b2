/*
 * ws-runopts.h - the workspace server's own long options (--hook,
 * --crypto-profile, --max-unauth, ...): what svr-runopts.c is for upstream's
 * options.  Upstream fixes the policy they set at compile time; a workspace
 * image is built once and configured per deployment (docs/server.md).
 */
#ifndef WS_RUNOPTS_H
#define WS_RUNOPTS_H

/* The raw values as given, NULL when not given; ws_runopts_apply() checks
 * them.  svr_getopts() runs again in every re-exec'd connection process, so
 * each process has its own copy. */
struct ws_runopts {
	char *hook;
	char *hook_config;
	char *crypto_profile;
	char *max_unauth;
	char *max_unauth_per_address;
	char *auth_timeout;
	char *sftp_server;
};
extern struct ws_runopts ws_runopts;

/* In svr_getopts(), for an argument that starts with "--": returns how many
 * argv entries it consumed; exits on an unknown option or a missing value. */
int ws_parse_long_option(int argc, char **argv, int i);
/* The options' lines for upstream's -h text. */
const char *ws_long_options_help(void);

/* Checks every option's value and applies it; exits with a message naming
 * the option on a bad one.  Runs at the end of svr_getopts(), so in the
 * listener (before it listens) and again in every connection process. */
void ws_runopts_apply(void);

/* The sftp subsystem's program: --sftp-server, or upstream's default. */
const char *ws_sftp_server(void);

/* Stops startup over a bad option value.  Before the listener is up, syslog
 * may lead nowhere (a container has none): with syslog logging, stderr gets
 * the message too. */
void ws_option_exit(const char *format, ...) ATTRIB_PRINTF(1,2) ATTRIB_NORETURN;

#endif
