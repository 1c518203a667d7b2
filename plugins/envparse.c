/*
 * envparse.c - dotenv, KEY=VALUE lines and JSON object parsers (envparse.h).
 */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include "envparse.h"
#include "envlist.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cursor {
	const char *p, *end;
	unsigned int line;
	char *out;      /* decoded value; as large as the input, so never short */
	size_t outlen;
	char *err;
	size_t errlen;
};

static int fail(struct cursor *c, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int is_blank(char ch) {
	return ch == ' ' || ch == '\t';
}

static void skip_blanks(struct cursor *c) {
	while (c->p < c->end && is_blank(*c->p)) {
		c->p++;
	}
}

static int at_line_end(const struct cursor *c) {
	return c->p == c->end || *c->p == '\n'
		|| (*c->p == '\r' && (c->p + 1 == c->end || c->p[1] == '\n'));
}

static void skip_line(struct cursor *c) {
	while (c->p < c->end && *c->p != '\n') {
		c->p++;
	}
	if (c->p < c->end) {
		c->p++;
	}
	c->line++;
}

/* The parsers share one setup: a scratch buffer for decoded values, wiped
 * afterwards because it held secrets. */
typedef int (*parse_fn)(struct cursor *c, ws_env_emit_fn emit, void *ctx);

static int run(parse_fn parse, const char *text, size_t len, ws_env_emit_fn emit, void *ctx,
		char *err, size_t errlen) {
	struct cursor c = { text, text + len, 1, malloc(len + 1), 0, err, errlen };
	int ret;

	if (c.out == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ret = parse(&c, emit, ctx);
	explicit_bzero(c.out, len + 1);
	free(c.out);
	return ret;
}

/* --- dotenv --- */

static int dotenv_quoted(struct cursor *c) {
	char quote = *c->p++;
	unsigned int first_line = c->line;

	c->outlen = 0;
	while (c->p < c->end && *c->p != quote) {
		char ch = *c->p++;
		if (ch == '\n') {
			c->line++;
		} else if (ch == '\\' && quote == '"' && c->p < c->end) {
			const char *known = strchr("nrt\"\\$", *c->p);
			if (known != NULL && *c->p != '\0') {
				ch = "\n\r\t\"\\$"[known - "nrt\"\\$"];
				c->p++;
			}
		}
		c->out[c->outlen++] = ch;
	}
	if (c->p == c->end) {
		return fail(c, "line %u: unterminated %s quote", first_line,
			quote == '"' ? "double" : "single");
	}
	c->p++;
	skip_blanks(c);
	if (!at_line_end(c) && *c->p != '#') {
		return fail(c, "line %u: unexpected text after the closing quote", c->line);
	}
	return 0;
}

static void dotenv_unquoted(struct cursor *c) {
	c->outlen = 0;
	while (!at_line_end(c)) {
		if (*c->p == '#' && c->outlen > 0 && is_blank(c->out[c->outlen - 1])) {
			break; /* a comment after the value */
		}
		c->out[c->outlen++] = *c->p++;
	}
	while (c->outlen > 0 && is_blank(c->out[c->outlen - 1])) {
		c->outlen--;
	}
}

static int parse_dotenv(struct cursor *c, ws_env_emit_fn emit, void *ctx) {
	while (c->p < c->end) {
		const char *name;
		size_t nlen;

		skip_blanks(c);
		if (at_line_end(c) || *c->p == '#') {
			skip_line(c);
			continue;
		}
		if (c->end - c->p > 7 && memcmp(c->p, "export", 6) == 0 && is_blank(c->p[6])) {
			c->p += 7;
			skip_blanks(c);
		}
		name = c->p;
		while (c->p < c->end && *c->p != '=' && !is_blank(*c->p) && !at_line_end(c)) {
			c->p++;
		}
		nlen = (size_t)(c->p - name);
		skip_blanks(c);
		if (nlen == 0 || c->p == c->end || *c->p != '=') {
			return fail(c, "line %u: expected NAME=VALUE", c->line);
		}
		if (!ws_env_name_valid(name, nlen)) {
			return fail(c, "line %u: invalid variable name", c->line);
		}
		c->p++;
		skip_blanks(c);
		if (c->p < c->end && (*c->p == '"' || *c->p == '\'')) {
			if (dotenv_quoted(c) != 0) {
				return -1;
			}
		} else {
			dotenv_unquoted(c);
		}
		emit(ctx, name, nlen, c->out, c->outlen);
		skip_line(c);
	}
	return 0;
}

int ws_parse_dotenv(const char *text, size_t len, ws_env_emit_fn emit, void *ctx,
		char *err, size_t errlen) {
	return run(parse_dotenv, text, len, emit, ctx, err, errlen);
}

/* --- KEY=VALUE lines --- */

static int parse_lines(struct cursor *c, ws_env_emit_fn emit, void *ctx) {
	while (c->p < c->end) {
		const char *line = c->p, *eq;
		size_t n;

		while (!at_line_end(c)) {
			c->p++;
		}
		n = (size_t)(c->p - line);
		if (n > 0) {
			eq = memchr(line, '=', n);
			if (eq == NULL || eq == line) {
				return fail(c, "line %u: expected NAME=VALUE", c->line);
			}
			if (!ws_env_name_valid(line, (size_t)(eq - line))) {
				return fail(c, "line %u: invalid variable name", c->line);
			}
			emit(ctx, line, (size_t)(eq - line), eq + 1, n - (size_t)(eq - line) - 1);
		}
		skip_line(c);
	}
	return 0;
}

int ws_parse_lines(const char *text, size_t len, ws_env_emit_fn emit, void *ctx,
		char *err, size_t errlen) {
	return run(parse_lines, text, len, emit, ctx, err, errlen);
}

/* --- a JSON object of strings --- */

static void json_ws(struct cursor *c) {
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) {
		c->p++;
	}
}

static long json_hex4(struct cursor *c) {
	long v = 0;
	int i;
	if (c->end - c->p < 4) {
		return -1;
	}
	for (i = 0; i < 4; i++) {
		char h = *c->p++;
		v <<= 4;
		if (h >= '0' && h <= '9') {
			v |= h - '0';
		} else if (h >= 'a' && h <= 'f') {
			v |= h - 'a' + 10;
		} else if (h >= 'A' && h <= 'F') {
			v |= h - 'A' + 10;
		} else {
			return -1;
		}
	}
	return v;
}

static void put_utf8(struct cursor *c, unsigned long cp) {
	if (cp < 0x80) {
		c->out[c->outlen++] = (char)cp;
	} else if (cp < 0x800) {
		c->out[c->outlen++] = (char)(0xc0 | (cp >> 6));
		c->out[c->outlen++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		c->out[c->outlen++] = (char)(0xe0 | (cp >> 12));
		c->out[c->outlen++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		c->out[c->outlen++] = (char)(0x80 | (cp & 0x3f));
	} else {
		c->out[c->outlen++] = (char)(0xf0 | (cp >> 18));
		c->out[c->outlen++] = (char)(0x80 | ((cp >> 12) & 0x3f));
		c->out[c->outlen++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		c->out[c->outlen++] = (char)(0x80 | (cp & 0x3f));
	}
}

/* \uXXXX, with a surrogate pair when it is one; UTF-8 is never longer than
 * the escape it comes from, so out never overflows. */
static int json_unicode(struct cursor *c) {
	long hi = json_hex4(c), lo;
	if (hi < 0) {
		return -1;
	}
	if (hi >= 0xdc00 && hi <= 0xdfff) {
		return -1;
	}
	if (hi >= 0xd800 && hi <= 0xdbff) {
		if (c->end - c->p < 2 || c->p[0] != '\\' || c->p[1] != 'u') {
			return -1;
		}
		c->p += 2;
		lo = json_hex4(c);
		if (lo < 0xdc00 || lo > 0xdfff) {
			return -1;
		}
		put_utf8(c, 0x10000 + (((unsigned long)hi - 0xd800) << 10) + ((unsigned long)lo - 0xdc00));
		return 0;
	}
	put_utf8(c, (unsigned long)hi);
	return 0;
}

/* Decodes the string at c->p into c->out + *start (appending). */
static int json_string(struct cursor *c, size_t *start, size_t *len) {
	if (c->p == c->end || *c->p != '"') {
		return fail(c, "expected a string");
	}
	c->p++;
	*start = c->outlen;
	while (c->p < c->end && *c->p != '"') {
		unsigned char ch = (unsigned char)*c->p++;
		if (ch < 0x20) {
			return fail(c, "control character inside a string");
		}
		if (ch != '\\') {
			c->out[c->outlen++] = (char)ch;
			continue;
		}
		if (c->p == c->end) {
			break;
		}
		ch = (unsigned char)*c->p++;
		if (ch == 'u') {
			if (json_unicode(c) != 0) {
				return fail(c, "bad \\u escape");
			}
		} else if (strchr("\"\\/bfnrt", ch) != NULL && ch != '\0') {
			c->out[c->outlen++] = "\"\\/\b\f\n\r\t"[strchr("\"\\/bfnrt", ch) - "\"\\/bfnrt"];
		} else {
			return fail(c, "bad escape in a string");
		}
	}
	if (c->p == c->end) {
		return fail(c, "unterminated string");
	}
	c->p++;
	*len = c->outlen - *start;
	return 0;
}

static int parse_json(struct cursor *c, ws_env_emit_fn emit, void *ctx) {
	size_t kstart, klen, vstart, vlen;
	unsigned int entry = 0;

	json_ws(c);
	if (c->p == c->end || *c->p != '{') {
		return fail(c, "not a JSON object");
	}
	c->p++;
	json_ws(c);
	if (c->p < c->end && *c->p == '}') {
		c->p++;
	} else {
		for (;;) {
			c->outlen = 0;
			entry++;
			if (json_string(c, &kstart, &klen) != 0) {
				return -1;
			}
			if (!ws_env_name_valid(c->out + kstart, klen)) {
				return fail(c, "entry %u: invalid variable name", entry);
			}
			json_ws(c);
			if (c->p == c->end || *c->p != ':') {
				return fail(c, "expected ':' after a name");
			}
			c->p++;
			json_ws(c);
			if (c->p < c->end && *c->p != '"') {
				/* the name is a valid one (checked above): safe to log */
				return fail(c, "the value of \"%.*s\" is not a string",
					(int)klen, c->out + kstart);
			}
			if (json_string(c, &vstart, &vlen) != 0) {
				return -1;
			}
			emit(ctx, c->out + kstart, klen, c->out + vstart, vlen);
			json_ws(c);
			if (c->p < c->end && *c->p == ',') {
				c->p++;
				json_ws(c);
				continue;
			}
			if (c->p < c->end && *c->p == '}') {
				c->p++;
				break;
			}
			return fail(c, "expected ',' or '}'");
		}
	}
	json_ws(c);
	if (c->p != c->end) {
		return fail(c, "text after the JSON object");
	}
	return 0;
}

int ws_parse_json_object(const char *text, size_t len, ws_env_emit_fn emit, void *ctx,
		char *err, size_t errlen) {
	return run(parse_json, text, len, emit, ctx, err, errlen);
}
