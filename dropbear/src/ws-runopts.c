/*
 * ws-runopts.c - the workspace server's long options (see ws-runopts.h):
 * one table gives each option's name, where its value goes and its line of
 * -h help.  Copied into the upstream tree by the build; svr-runopts.c calls
 * it from svr_getopts() and printhelp().
 */
#include "includes.h"
#include "dbutil.h"
#include "runopts.h"
#include "session.h"
#include "ws-runopts.h"
#include "ws-profiles.h"
#include "ws-unauth.h"

/* Upstream waits 300 s; a key-only login needs a few seconds at most, and
 * a shorter wait frees the slots of clients that went silent. */
#define WS_AUTH_TIMEOUT_DEFAULT 60
#define WS_AUTH_TIMEOUT_MAX 3600

/* the help text names the defaults the code uses */
#define WS_STR(x) WS_STR_(x)
#define WS_STR_(x) #x

struct ws_runopts ws_runopts;

static const struct longopt {
	const char *name;
	const char *arg;  /* the value's name in the help */
	char **dest;
	const char *help;
} longopts[] = {
	{ "hook", "library.so", &ws_runopts.hook, "Load an ssh-workspace hook library" },
	{ "hook-config", "file", &ws_runopts.hook_config, "Config file for the hook library" },
	/* the policy, checked by ws_runopts_apply() */
	{ "crypto-profile", "name", &ws_runopts.crypto_profile,
		"compat, modern (default) or pq-only" },
	{ "max-unauth", "n", &ws_runopts.max_unauth,
		"Unauthenticated connections in total (default " WS_STR(WS_MAX_UNAUTH_DEFAULT) ")" },
	{ "max-unauth-per-address", "n", &ws_runopts.max_unauth_per_address,
		"... from one address (default: --max-unauth)" },
	{ "auth-timeout", "secs", &ws_runopts.auth_timeout,
		"Time allowed to authenticate (default " WS_STR(WS_AUTH_TIMEOUT_DEFAULT) ")" },
	{ "sftp-server", "path", &ws_runopts.sftp_server,
		"sftp subsystem program (default " SFTPSERVER_PATH ")" },
};
#define NLONGOPTS (sizeof(longopts) / sizeof(longopts[0]))

int ws_parse_long_option(int argc, char **argv, int i) {
	const char *arg = argv[i] + 2;
	size_t k;

	for (k = 0; k < NLONGOPTS; k++) {
		size_t n = strlen(longopts[k].name);
		const char *value = NULL;
		int used = 1;
		if (strncmp(arg, longopts[k].name, n) != 0) {
			continue;
		}
		if (arg[n] == '=') {
			value = arg + n + 1;
		} else if (arg[n] == '\0') {
			if (i + 1 >= argc) {
				dropbear_exit("Missing argument for --%s", longopts[k].name);
			}
			value = argv[i + 1];
			used = 2;
		} else {
			continue;
		}
		if (value[0] == '\0') {
			dropbear_exit("Empty argument for --%s", longopts[k].name);
		}
		*longopts[k].dest = (char *)value;
		return used;
	}
	dropbear_exit("Invalid option %s", argv[i]);
	return 0; /* not reached */
}

/* Upstream's help aligns its descriptions at column 6; ours, longer, at 25,
 * with at least two spaces after the option. */
const char *ws_long_options_help(void) {
	static char help[2048];
	size_t k, len = 0;

	if (help[0] != '\0') {
		return help;
	}
	for (k = 0; k < NLONGOPTS && len < sizeof(help); k++) {
		char opt[64];
		int n;
		snprintf(opt, sizeof(opt), "--%s <%s>", longopts[k].name, longopts[k].arg);
		n = snprintf(help + len, sizeof(help) - len, "%-23s  %s\n", opt, longopts[k].help);
		if (n < 0) {
			break;
		}
		len += (size_t)n;
	}
	return help;
}

void ws_option_exit(const char *format, ...) {
	char msg[300];
	va_list param;

	va_start(param, format);
	vsnprintf(msg, sizeof(msg), format, param);
	va_end(param);
	if (opts.usingsyslog) {
		char safe[DROPBEAR_LOG_SAFE_LEN(sizeof(msg))]; /* as the log is */
		dropbear_log_escape(msg, safe, sizeof(safe));
		fprintf(stderr, "dropbear: %s\n", safe);
	}
	dropbear_exit("%s", msg);
}

/* Strict: digits only, no sign, no spaces, within [min, max]. */
static unsigned int parse_number(const char *option, const char *value,
		unsigned int min, unsigned int max) {
	unsigned long v = 0;
	const char *p;

	for (p = value; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || v > max) {
			break;
		}
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (value[0] == '\0' || *p != '\0' || v < min || v > max) {
		ws_option_exit("Bad --%s '%s': expected a whole number from %u to %u",
			option, value, min, max);
	}
	return (unsigned int)v;
}

void ws_runopts_apply(void) {
	const struct ws_runopts *o = &ws_runopts;
	unsigned int total = WS_MAX_UNAUTH_DEFAULT, per_address;

	ws_profile_apply(o->crypto_profile);
	if (o->max_unauth) {
		total = parse_number("max-unauth", o->max_unauth, 1, WS_MAX_UNAUTH_LIMIT);
	}
	/* per address defaults to the total: behind a port-forward or a load
	 * balancer every client has the same address */
	per_address = total;
	if (o->max_unauth_per_address) {
		per_address = parse_number("max-unauth-per-address",
			o->max_unauth_per_address, 1, total);
	}
	ws_unauth_set_limits(total, per_address);
	auth_timeout_secs = WS_AUTH_TIMEOUT_DEFAULT;
	if (o->auth_timeout) {
		auth_timeout_secs = parse_number("auth-timeout", o->auth_timeout,
			1, WS_AUTH_TIMEOUT_MAX);
	}
	if (o->sftp_server && o->sftp_server[0] != '/') {
		ws_option_exit("Bad --sftp-server '%s': expected an absolute path", o->sftp_server);
	}
	if (svr_opts.reexec_childpipe < 0 && access(ws_sftp_server(), X_OK) != 0) {
		/* not fatal: an image may leave sftp out on purpose */
		dropbear_log(LOG_WARNING, "sftp-server %s is not executable: sftp will fail",
			ws_sftp_server());
	}
}

const char *ws_sftp_server(void) {
	return ws_runopts.sftp_server ? ws_runopts.sftp_server : SFTPSERVER_PATH;
}
