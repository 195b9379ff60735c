/* Minimal check harness for the host unit tests: counts checks, keeps going
 * after a failure so one run reports every broken expectation. */
#ifndef TEST_SUPPORT_H
#define TEST_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cJSON.h"

extern int g_checks;
extern int g_failures;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        g_checks++;                                                                   \
        if (!(cond)) {                                                                \
            g_failures++;                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);  \
        }                                                                             \
    } while (0)

#define CHECK_MSG(cond, ...)                                                          \
    do {                                                                              \
        g_checks++;                                                                   \
        if (!(cond)) {                                                                \
            g_failures++;                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
        }                                                                             \
    } while (0)

/* Prints the summary line and returns the process exit code. */
int test_finish(const char *suite);

/* Reads dir/name and parses it; exits the test with a clear message on failure. */
cJSON *test_load_json(const char *dir, const char *name);

/* Hex string -> bytes; aborts the test on malformed fixtures. */
size_t test_hex(const char *hex, uint8_t *out, size_t out_size);

/* True when two JSON values are equal, numbers compared as doubles (1 == 1.0). */
bool test_json_equal(const cJSON *a, const cJSON *b);

#endif
