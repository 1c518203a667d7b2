/*
 * unit.h - a minimal unit test harness: each test is a function; CHECK
 * records a failure and goes on, so one run shows every broken assertion.
 */
#ifndef WS_UNIT_H
#define WS_UNIT_H

#include <stdio.h>
#include <string.h>

struct unit_test {
	const char *name;
	void (*fn)(void);
};

void unit_fail(const char *file, int line, const char *what);
/* A fresh private directory for the running test (removed afterwards). */
const char *unit_tmpdir(void);
/* Parses hook config text into cfg (after ws_config_init); returns the
 * error message, "" on success (test_config.c). */
struct ws_config;
const char *unit_parse_config(struct ws_config *cfg, const char *text);
/* Writes text to unit_tmpdir()/name with the given mode; returns the path
 * (a static buffer, valid until the next call). */
const char *unit_write_file(const char *name, const char *text, unsigned int mode);
/* Reads a whole small file into a static buffer ("" if it cannot). */
const char *unit_read_file(const char *path);

#define CHECK(cond) do { \
	if (!(cond)) unit_fail(__FILE__, __LINE__, #cond); \
} while (0)
#define CHECK_STR(got, want) do { \
	const char *g_ = (got), *w_ = (want); \
	if (g_ == NULL || strcmp(g_, w_) != 0) { \
		unit_fail(__FILE__, __LINE__, #got " == " #want); \
		printf("      got:  %s\n      want: %s\n", g_ ? g_ : "(null)", w_); \
	} \
} while (0)
#define CHECK_CONTAINS(got, part) do { \
	const char *g_ = (got), *p_ = (part); \
	if (g_ == NULL || strstr(g_, p_) == NULL) { \
		unit_fail(__FILE__, __LINE__, #got " contains " #part); \
		printf("      got:  %s\n      want: ...%s...\n", g_ ? g_ : "(null)", p_); \
	} \
} while (0)

#define UNIT_SUITE(name) const struct unit_test name[]
#define UNIT_END { NULL, NULL }

extern const struct unit_test config_tests[];
extern const struct unit_test config_doc_tests[];
extern const struct unit_test eventlog_tests[];
extern const struct unit_test plugin_tests[];
extern const struct unit_test env_tests[];
extern const struct unit_test envsource_tests[];
extern const struct unit_test envtrust_tests[];
extern const struct unit_test cipher_tests[];
extern const struct unit_test ctr_mac_tests[];
extern const struct unit_test agent_filter_tests[];
extern const struct unit_test gateway_tests[];
extern const struct unit_test gateway_run_tests[];
extern const struct unit_test gateway_keeper_tests[];
extern const struct unit_test gateway_limits_tests[];
extern const struct unit_test kube_objects_tests[];
extern const struct unit_test kube_wire_tests[];
extern const struct unit_test kube_token_tests[];

#endif
