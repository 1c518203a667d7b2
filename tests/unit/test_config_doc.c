/*
 * test_config_doc.c - docs/hook-config.md against the keys the library
 * actually has (plugins/config.c's table): every key listed once, with the
 * default ws_config_init() sets and the range the parser enforces.  Read
 * from the compiled table, not from the source text, so neither can drift.
 */
#include "unit.h"

#include <stdlib.h>

#include "config.h"

#ifndef WS_SRCDIR
#define WS_SRCDIR "."
#endif
#define DOC WS_SRCDIR "/docs/hook-config.md"
#define CELL 512

/* A number of ms or bytes as the docs write it: the largest unit that
 * divides it. */
static void scaled(char *out, size_t outlen, unsigned long n, enum ws_config_kind kind) {
	if (kind == WS_CONFIG_DURATION) {
		if (n % 1000 == 0) {
			snprintf(out, outlen, "%lus", n / 1000);
		} else {
			snprintf(out, outlen, "%lums", n);
		}
	} else if (kind == WS_CONFIG_SIZE && n % (1024 * 1024) == 0) {
		snprintf(out, outlen, "%luM", n / (1024 * 1024));
	} else if (kind == WS_CONFIG_SIZE && n % 1024 == 0) {
		snprintf(out, outlen, "%luK", n / 1024);
	} else {
		snprintf(out, outlen, "%lu", n);
	}
}

/* The "values" cell of a key, or NULL for keys with their own setter (the
 * docs describe those in words). */
static const char *values_cell(const struct ws_config_key *k, char *out, size_t outlen) {
	static const char *const words[] = {
		[WS_CONFIG_DURATION] = "duration, ", [WS_CONFIG_SIZE] = "size, ",
		[WS_CONFIG_COUNT] = "number, ",
	};
	char lo[32], hi[32];

	switch (k->kind) {
	case WS_CONFIG_BOOL:
		return "boolean";
	case WS_CONFIG_PATH:
		return "absolute path";
	case WS_CONFIG_CUSTOM:
		return NULL;
	default:
		scaled(lo, sizeof(lo), k->min, k->kind);
		scaled(hi, sizeof(hi), k->max, k->kind);
		snprintf(out, outlen, "%s`%s` to `%s`", words[k->kind], lo, hi);
		return out;
	}
}

/* Splits a table row "| a | b | c | d |" into its four cells (trimmed). */
static int row_cells(const char *line, size_t len, char cells[4][CELL]) {
	size_t n = 0, i = 1, start;

	if (len < 2 || line[0] != '|' || line[len - 1] != '|') {
		return -1;
	}
	while (i < len && n < 4) {
		size_t end;
		start = i;
		while (i < len && line[i] != '|') {
			i++;
		}
		end = i;
		while (start < end && line[start] == ' ') {
			start++;
		}
		while (end > start && line[end - 1] == ' ') {
			end--;
		}
		if (end - start >= CELL) {
			return -1;
		}
		memcpy(cells[n], line + start, end - start);
		cells[n][end - start] = '\0';
		n++;
		i++;
	}
	return n == 4 && i == len ? 0 : -1;
}

static void every_key_is_documented_with_its_default_and_range(void) {
	const char *doc = unit_read_file(DOC);
	size_t nkeys, k, rows = 0;
	const struct ws_config_key *keys = ws_config_keys(&nkeys);
	unsigned int *seen = calloc(nkeys, sizeof(*seen));
	const char *line = doc;

	CHECK(doc[0] != '\0'); /* the file is there */
	while (seen != NULL && *line != '\0') {
		const char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		char cells[4][CELL], want[CELL];

		if (len > 3 && strncmp(line, "| `", 3) == 0) {
			rows++;
			CHECK(row_cells(line, len, cells) == 0);
			for (k = 0; k < nkeys; k++) {
				snprintf(want, sizeof(want), "`%s`", keys[k].name);
				if (strcmp(cells[0], want) == 0) {
					break;
				}
			}
			if (k == nkeys) {
				printf("      %s is not a key of the library\n", cells[0]);
				CHECK(!"a documented key is in plugins/config.c");
			} else {
				const char *values = values_cell(&keys[k], want, sizeof(want));
				seen[k]++;
				if (values != NULL) {
					CHECK_STR(cells[1], values);
				}
				if (keys[k].def != NULL) {
					snprintf(want, sizeof(want), "`%s`", keys[k].def);
					CHECK_STR(cells[2], want);
				} else {
					CHECK_STR(cells[2], keys[k].shown);
				}
			}
		}
		line = eol ? eol + 1 : line + len;
	}
	CHECK(rows >= nkeys);
	for (k = 0; seen != NULL && k < nkeys; k++) {
		if (seen[k] != 1) {
			printf("      %s is listed %u times in %s\n", keys[k].name, seen[k], DOC);
			CHECK(!"every key is listed once");
		}
	}
	free(seen);
}

/* What ws_config_init() sets is what the rows say: each default read back
 * as a config file gives the same config. */
static void the_defaults_are_the_rows(void) {
	struct ws_config a, b;
	char text[4096] = "", err[256] = "";
	size_t nkeys, k, n = 0;
	const struct ws_config_key *keys = ws_config_keys(&nkeys);

	for (k = 0; k < nkeys; k++) {
		CHECK((keys[k].def == NULL) != (keys[k].shown == NULL));
		if (keys[k].def != NULL) {
			n += (size_t)snprintf(text + n, sizeof(text) - n, "%s = %s\n", keys[k].name,
				keys[k].def);
		}
	}
	CHECK(n < sizeof(text));
	ws_config_init(&a);
	ws_config_init(&b);
	CHECK(ws_config_parse(&b, "defaults", text, strlen(text), err, sizeof(err)) == 0);
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	CHECK(a.env.command_timeout_ms == 2000 && a.env.output_max == 256 * 1024);
	CHECK(a.agent.forwarding == 1 && a.env.fail_closed == 0);
	ws_config_free(&a);
	ws_config_free(&b);
}

UNIT_SUITE(config_doc_tests) = {
	{ "config doc: every key is documented with its default and range",
		every_key_is_documented_with_its_default_and_range },
	{ "config doc: the defaults are the rows", the_defaults_are_the_rows },
	UNIT_END
};
