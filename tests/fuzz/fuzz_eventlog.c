/*
 * fuzz_eventlog.c - the event log's JSON lines (eventlog.c): whatever the
 * strings (user names, commands, terminal types come from clients), a line
 * is one valid JSON object of at most WS_EVENT_LINE_MAX bytes, each string
 * says exactly what was given (invalid UTF-8 as U+FFFD, cut at its cap
 * with KEY_truncated), and a field that did not fit is gone whole with
 * "truncated":true at the end.
 * Input: fields separated by FUZZ_SEP: the event name, then one field per
 * member, whose first byte picks the kind (string with a cap, or number)
 * and whose rest is the value.
 */
#include <string.h>

#include "eventlog.h"
#include "fuzz.h"

#define MAX_FIELDS 64

/* The bytes a JSON string should decode to: s (up to cap bytes, never
 * splitting a character) with each byte of invalid UTF-8 as U+FFFD.
 * Follows the Unicode standard's table of well-formed sequences, not
 * eventlog.c's decoder.  Returns whether s was cut short. */
static int expected(const unsigned char *s, size_t cap, unsigned char *out, size_t *outlen) {
	size_t n = strlen((const char *)s), i = 0, k = 0;

	while (i < n) {
		unsigned char b = s[i];
		size_t len = 0, j;
		unsigned char lo = 0x80, hi = 0xbf;

		if (b < 0x80) {
			len = 1;
		} else if (b >= 0xc2 && b <= 0xdf) {
			len = 2;
		} else if (b >= 0xe0 && b <= 0xef) {
			len = 3;
			lo = b == 0xe0 ? 0xa0 : 0x80;
			hi = b == 0xed ? 0x9f : 0xbf;
		} else if (b >= 0xf0 && b <= 0xf4) {
			len = 4;
			lo = b == 0xf0 ? 0x90 : 0x80;
			hi = b == 0xf4 ? 0x8f : 0xbf;
		}
		for (j = 1; j < len; j++) {
			unsigned char min = j == 1 ? lo : 0x80, max = j == 1 ? hi : 0xbf;
			if (i + j >= n || s[i + j] < min || s[i + j] > max) {
				len = 0;
				break;
			}
		}
		if (cap != 0 && i + (len ? len : 1) > cap) {
			break;
		}
		if (len == 0) {
			memcpy(out + k, "\xef\xbf\xbd", 3);
			k += 3;
			i++;
		} else {
			memcpy(out + k, s + i, len);
			k += len;
			i += len;
		}
	}
	*outlen = k;
	return i < n;
}

struct cursor {
	const char *p, *end;
};

static int hexval(char c) {
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
		: c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Decodes the JSON string at c->p into out; aborts on anything invalid. */
static size_t json_string(struct cursor *c, unsigned char *out) {
	size_t k = 0;

	FUZZ_ASSERT(c->p < c->end && *c->p == '"');
	c->p++;
	for (;;) {
		unsigned char ch;
		FUZZ_ASSERT(c->p < c->end);
		ch = (unsigned char)*c->p++;
		if (ch == '"') {
			return k;
		}
		FUZZ_ASSERT(ch >= 0x20);
		if (ch != '\\') {
			out[k++] = ch;
			continue;
		}
		FUZZ_ASSERT(c->p < c->end);
		ch = (unsigned char)*c->p++;
		if (ch == 'u') {
			unsigned int cp = 0;
			for (int i = 0; i < 4; i++) {
				FUZZ_ASSERT(c->p < c->end && hexval(*c->p) >= 0);
				cp = cp << 4 | (unsigned int)hexval(*c->p++);
			}
			/* the escaper writes \u00XX for control bytes (C0, DEL and
			 * the C1 controls U+0080..U+009F, which terminals act on)
			 * and \ufffd */
			if (cp < 0x80) {
				out[k++] = (unsigned char)cp;
			} else if (cp <= 0x9f) {
				out[k++] = 0xc2;
				out[k++] = (unsigned char)cp;
			} else {
				FUZZ_ASSERT(cp == 0xfffd);
				memcpy(out + k, "\xef\xbf\xbd", 3);
				k += 3;
			}
		} else {
			const char *known = strchr("\"\\/bfnrt", ch);
			FUZZ_ASSERT(ch != '\0' && known != NULL);
			out[k++] = (unsigned char)"\"\\/\b\f\n\r\t"[known - "\"\\/bfnrt"];
		}
	}
}

/* The raw text of a number or literal member value. */
static size_t json_scalar(struct cursor *c, char *out, size_t max) {
	size_t k = 0;
	while (c->p < c->end && *c->p != ',' && *c->p != '}' && k + 1 < max) {
		out[k++] = *c->p++;
	}
	out[k] = '\0';
	return k;
}

struct field {
	char key[16];
	int is_string;
	const char *value;  /* a string field's value */
	size_t cap;
	char number[32];    /* a number field's JSON text */
};

static unsigned char decoded[2 * WS_EVENT_LINE_MAX], want[4 * WS_EVENT_LINE_MAX];

/* Member key at c->p is `key`?  Consumes it and the ':' if so. */
static int next_key_is(struct cursor *c, const char *key) {
	struct cursor look = *c;
	size_t n;
	if (look.p >= look.end || *look.p != ',') {
		return 0;
	}
	look.p++;
	n = json_string(&look, decoded);
	if (n != strlen(key) || memcmp(decoded, key, n) != 0) {
		return 0;
	}
	FUZZ_ASSERT(look.p < look.end && *look.p == ':');
	look.p++;
	*c = look;
	return 1;
}

static void check_line(const struct ws_event *ev, const char *name, const struct field *f,
		size_t nfields) {
	struct cursor c = { ev->buf, ev->buf + ev->len };
	char scalar[64];
	size_t n, wlen, i;
	int dropped = 0;

	FUZZ_ASSERT(ev->len <= WS_EVENT_LINE_MAX && ev->len >= 2);
	FUZZ_ASSERT(memcmp(ev->buf + ev->len - 2, "}\n", 2) == 0);
	FUZZ_ASSERT(memchr(ev->buf, '\n', ev->len - 1) == NULL);
	c.end -= 2; /* "}\n" */
	FUZZ_ASSERT(*c.p++ == '{');
	n = json_string(&c, decoded);
	FUZZ_ASSERT(n == 2 && memcmp(decoded, "ts", 2) == 0 && *c.p++ == ':');
	n = json_string(&c, decoded);
	FUZZ_ASSERT(n == 24 && decoded[23] == 'Z');
	FUZZ_ASSERT(next_key_is(&c, "event"));
	n = json_string(&c, decoded);
	expected((const unsigned char *)name, 64, want, &wlen);
	FUZZ_ASSERT(n == wlen && memcmp(decoded, want, n) == 0);
	for (i = 0; i < nfields; i++) {
		if (!next_key_is(&c, f[i].key)) {
			dropped = 1; /* did not fit: gone whole */
			continue;
		}
		if (!f[i].is_string) {
			json_scalar(&c, scalar, sizeof(scalar));
			FUZZ_ASSERT(strcmp(scalar, f[i].number) == 0);
			continue;
		}
		n = json_string(&c, decoded);
		int cut = expected((const unsigned char *)f[i].value, f[i].cap, want, &wlen);
		FUZZ_ASSERT(n == wlen && memcmp(decoded, want, n) == 0);
		if (cut) {
			char flag[32];
			snprintf(flag, sizeof(flag), "%s_truncated", f[i].key);
			FUZZ_ASSERT(next_key_is(&c, flag));
			json_scalar(&c, scalar, sizeof(scalar));
			FUZZ_ASSERT(strcmp(scalar, "true") == 0);
		}
	}
	if (dropped) {
		FUZZ_ASSERT(next_key_is(&c, "truncated"));
		json_scalar(&c, scalar, sizeof(scalar));
		FUZZ_ASSERT(strcmp(scalar, "true") == 0);
	}
	FUZZ_ASSERT(c.p == c.end);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	static const size_t caps[] = { 0, 1, 2, 3, 4, 64, 256, 1024 };
	struct fuzz_input in = { data, size };
	struct field f[MAX_FIELDS];
	char *strings[MAX_FIELDS + 1] = { NULL };
	struct ws_event ev;
	const uint8_t *field;
	size_t len, nfields = 0, i;

	if (!fuzz_field(&in, &field, &len)) {
		return 0;
	}
	/* longer strings cannot fit a line anyway; this bounds want[] */
	strings[0] = fuzz_cstring(field, len < WS_EVENT_LINE_MAX ? len : WS_EVENT_LINE_MAX);
	ws_event_begin(&ev, strings[0]);
	while (nfields < MAX_FIELDS && fuzz_field(&in, &field, &len)) {
		struct field *x = &f[nfields];
		unsigned int kind = len > 0 ? field[0] : 0;

		snprintf(x->key, sizeof(x->key), "f%zu", nfields);
		x->is_string = (kind & 0xc0) != 0xc0;
		len = len > WS_EVENT_LINE_MAX ? WS_EVENT_LINE_MAX : len;
		strings[nfields + 1] = fuzz_cstring(len > 0 ? field + 1 : field, len > 0 ? len - 1 : 0);
		if (x->is_string) {
			x->value = strings[nfields + 1];
			x->cap = caps[kind & 7];
			ws_event_str(&ev, x->key, x->value, x->cap);
		} else {
			uint64_t bits = 0;
			long long v;
			for (i = 0; i < 8 && i + 1 < len; i++) {
				bits = bits << 8 | field[i + 1];
			}
			memcpy(&v, &bits, sizeof(v));
			if ((kind & 3) == 0) {
				snprintf(x->number, sizeof(x->number), "%lld", v);
				ws_event_int(&ev, x->key, v);
			} else if ((kind & 3) == 1) {
				snprintf(x->number, sizeof(x->number), "%llu", (unsigned long long)bits);
				ws_event_uint(&ev, x->key, bits);
			} else {
				snprintf(x->number, sizeof(x->number), "%s", v ? "true" : "false");
				ws_event_bool(&ev, x->key, v != 0);
			}
		}
		nfields++;
	}
	ws_event_end(&ev);
	check_line(&ev, strings[0], f, nfields);
	for (i = 0; i <= nfields; i++) {
		free(strings[i]);
	}
	return 0;
}
