/*
 * fuzz_lines.c - ws_parse_lines: a helper's KEY=VALUE output (env_command).
 * Input: one byte that picks the caps (fuzz_env_config), then the text.
 */
#include "envparse.h"
#include "fuzz_env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	fuzz_env_parse(ws_parse_lines, data, size);
	return 0;
}
