/*
 * fuzz.h - what the libFuzzer targets in tests/fuzz/ share.
 *
 * Each target feeds its input to one parser we own and then checks what
 * came out against the parser's promises (bounds, the environment rules,
 * valid JSON...): a broken promise aborts, so libFuzzer keeps the input as
 * a crash just like an ASan or UBSan report.
 */
#ifndef WS_FUZZ_H
#define WS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: broken promise: %s\n", __FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

/* Targets that need several strings read them as fields separated by
 * FUZZ_SEP (ASCII "unit separator", "\037" in a shell's printf): seeds
 * stay readable and a field may hold any other byte, NUL included. */
#define FUZZ_SEP 0x1f

struct fuzz_input {
	const uint8_t *p;
	size_t left;
};

/* The next field, or 0 when the input is used up.  *len may be 0. */
static inline int fuzz_field(struct fuzz_input *in, const uint8_t **field, size_t *len) {
	size_t n = 0;
	if (in->p == NULL) {
		return 0;
	}
	while (n < in->left && in->p[n] != FUZZ_SEP) {
		n++;
	}
	*field = in->p;
	*len = n;
	if (n < in->left) {
		in->p += n + 1;
		in->left -= n + 1;
	} else {
		in->p = NULL; /* the last field: nothing follows */
		in->left = 0;
	}
	return 1;
}

/* A byte of the input for choices (0 once it is used up). */
static inline unsigned int fuzz_byte(struct fuzz_input *in) {
	unsigned int b;
	if (in->p == NULL || in->left == 0) {
		return 0;
	}
	b = in->p[0];
	in->p++;
	in->left--;
	return b;
}

/* A NUL-terminated copy of a field (the caller frees it). */
static inline char *fuzz_cstring(const uint8_t *field, size_t len) {
	char *s = malloc(len + 1);
	if (s == NULL) {
		abort();
	}
	for (size_t i = 0; i < len; i++) {
		s[i] = (char)field[i];
	}
	s[len] = '\0';
	return s;
}

#endif
