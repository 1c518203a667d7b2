/*
 * test_kube_token.c - ws-gateway-kube's token: one too short to be a
 * ServiceAccount token is refused when read, and the redaction of error
 * messages stays within its buffer and ends whatever the token is.
 */
#include "unit.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "kube.h"

static void test_a_short_token_is_refused(void) {
	struct kube *k = calloc(1, sizeof(*k));
	char why[400];

	if (k == NULL) {
		CHECK(!"out of memory");
		return;
	}
	snprintf(k->token_file, sizeof(k->token_file), "%s",
		unit_write_file("token", "abcdefghijklmno\n", 0600));
	CHECK(kube_read_token(k, why, sizeof(why)) == -1);
	CHECK_CONTAINS(why, "is too short to be a ServiceAccount token");
	CHECK(strstr(why, "abcdefghijklmno") == NULL);
	snprintf(k->token_file, sizeof(k->token_file), "%s",
		unit_write_file("token2", "abcdefghijklmnop\n", 0600));
	CHECK(kube_read_token(k, why, sizeof(why)) == 0);
	CHECK_STR(k->token, "abcdefghijklmnop");
	free(k);
}

static void test_the_redaction_of_any_token_ends_within_its_buffer(void) {
	static const char *const tokens[] = { "*", "**", "a", "ab", "m", "" };
	char body[400], out[600], stars[201];
	size_t i, head = strlen("GET pods: 401 Unauthorized: ");

	memset(stars, '*', 200);
	stars[200] = '\0';
	/* a loop that never ends is this test's failure too */
	alarm(20);
	for (i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
		snprintf(body, sizeof(body), "{\"message\":\"%s\"}", stars);
		kube_error_text(out, sizeof(out), "GET", "pods", NULL, 401, body, strlen(body),
			tokens[i]);
		CHECK(strncmp(out, "GET pods: 401 Unauthorized: ", head) == 0);
		CHECK(strlen(out) <= head + KUBE_MESSAGE_MAX);
		snprintf(body, sizeof(body), "{\"message\":\"ababababab mmmm %s\"}", stars);
		kube_error_text(out, sizeof(out), "GET", "pods", NULL, 401, body, strlen(body),
			tokens[i]);
		CHECK(strlen(out) <= head + KUBE_MESSAGE_MAX);
		if (tokens[i][0] != '\0' && tokens[i][0] != '*') {
			CHECK(strstr(out + head, tokens[i]) == NULL);
		}
	}
	alarm(0);
}

UNIT_SUITE(kube_token_tests) = {
	{ "kube: a token too short to be a ServiceAccount's is refused",
		test_a_short_token_is_refused },
	{ "kube: the redaction of any token ends within its buffer",
		test_the_redaction_of_any_token_ends_within_its_buffer },
	UNIT_END
};
