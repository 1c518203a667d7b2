/*
 * fuzz_json.c - ws_parse_json_object: an endpoint's JSON object (env_socket).
 * Input: one byte that picks the caps (fuzz_env_config), then the text.
 */
#include "envparse.h"
#include "fuzz_env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	fuzz_env_parse(ws_parse_json_object, data, size);
	return 0;
}
