/*
 * fuzz_dotenv.c - ws_parse_dotenv: a dotenv file (env_file).
 * Input: one byte that picks the caps (fuzz_env_config), then the text.
 */
#include "envparse.h"
#include "fuzz_env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	fuzz_env_parse(ws_parse_dotenv, data, size);
	return 0;
}
