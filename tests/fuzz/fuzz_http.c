/*
 * fuzz_http.c - ws_http_body and then ws_parse_json_object on the body:
 * an env_socket endpoint's whole response, as ws_envsrc_socket reads it.
 * Input: one byte that picks the caps (fuzz_env_config), then the response
 * (in a buffer of exactly its length: the parser must stay inside it).
 */
#include <string.h>

#include "envparse.h"
#include "envsources.h"
#include "fuzz_env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	const char *resp, *body = NULL;
	size_t len, blen = 0;
	char why[256] = "";

	if (size == 0) {
		return 0;
	}
	resp = (const char *)data + 1;
	len = size - 1;
	if (ws_http_body(resp, len, &body, &blen, why, sizeof(why)) != 0) {
		FUZZ_ASSERT(why[0] != '\0');
		return 0;
	}
	/* a 200 whose body lies inside the response, after the headers */
	FUZZ_ASSERT(len >= 12 && memcmp(resp, "HTTP/1.", 7) == 0 && memcmp(resp + 9, "200", 3) == 0);
	FUZZ_ASSERT(body > resp && body <= resp + len && blen <= len - (size_t)(body - resp));
	FUZZ_ASSERT(body[-1] == '\n');
	{
		struct fuzz_env_sink sink;
		char err[256] = "";
		ws_envlist_init(&sink.list);
		sink.cfg = fuzz_env_config(data[0]);
		sink.input_len = blen;
		sink.emitted = 0;
		if (ws_parse_json_object(body, blen, fuzz_env_emit, &sink, err, sizeof(err)) != 0) {
			FUZZ_ASSERT(err[0] != '\0');
		}
		fuzz_check_envlist(&sink.list, &sink.cfg);
		ws_envlist_free(&sink.list);
	}
	return 0;
}
