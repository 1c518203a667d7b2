/*
 * envparse.h - parsers for what environment sources deliver: dotenv files,
 * a helper's KEY=VALUE lines, and an endpoint's JSON object of strings.
 *
 * They are pure functions of their input (a buffer and its length, which
 * may hold NUL bytes) so they can be unit-tested and fuzzed alone.  Each
 * variable found goes to `emit`; its name is always a valid variable name
 * (ws_env_name_valid); the other rules (denylist, values, caps) are the
 * caller's.  A syntax error, which includes a name that is not a valid
 * variable name, stops the parse: the source is garbage and none of it
 * should be used.  Error messages say where ("line N", "entry N") and what,
 * and never quote the input beyond a valid name: a malformed line is as
 * likely to hold a secret ("DATABASE_URL: postgres://u:pw@db") as a name.
 */
#ifndef WS_ENVPARSE_H
#define WS_ENVPARSE_H

#include <stddef.h>

typedef void (*ws_env_emit_fn)(void *ctx, const char *name, size_t nlen,
	const char *value, size_t vlen);

/* A dotenv file: `KEY=VALUE` lines; blank lines and `#` comments; an
 * optional `export ` prefix; blanks around `=`; unquoted values end at a
 * blank followed by `#`; 'single' quotes are literal, "double" quotes know
 * \n \r \t \" \\ \$; quoted values may span lines; no ${} expansion.
 * Returns 0, or -1 with "line N: reason" in err. */
int ws_parse_dotenv(const char *text, size_t len, ws_env_emit_fn emit, void *ctx,
	char *err, size_t errlen);

/* A helper's output: one `KEY=VALUE` per line, the value taken literally to
 * the end of the line (a trailing \r dropped); blank lines ignored. */
int ws_parse_lines(const char *text, size_t len, ws_env_emit_fn emit, void *ctx,
	char *err, size_t errlen);

/* A JSON object whose values are all strings: {"KEY": "VALUE", ...}.
 * \uXXXX escapes (and surrogate pairs) become UTF-8. */
int ws_parse_json_object(const char *text, size_t len, ws_env_emit_fn emit, void *ctx,
	char *err, size_t errlen);

#endif
