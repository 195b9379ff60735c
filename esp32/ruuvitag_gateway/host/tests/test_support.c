#include "test_support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gw_util.h"

int g_checks;
int g_failures;

int test_finish(const char *suite)
{
    printf("%s: %d checks, %d failed\n", suite, g_checks, g_failures);
    return g_failures == 0 ? 0 : 1;
}

cJSON *test_load_json(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    cJSON *doc = cJSON_Parse(buf);
    if (doc == NULL) {
        fprintf(stderr, "cannot parse %s\n", path);
        exit(2);
    }
    return doc;
}

size_t test_hex(const char *hex, uint8_t *out, size_t out_size)
{
    int n = gw_hex_decode(hex, out, out_size);
    if (n < 0) {
        fprintf(stderr, "bad hex fixture: %s\n", hex);
        exit(2);
    }
    return (size_t)n;
}

bool test_json_equal(const cJSON *a, const cJSON *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b)) {
        return a->valuedouble == b->valuedouble;
    }
    if (cJSON_IsBool(a) && cJSON_IsBool(b)) {
        return cJSON_IsTrue(a) == cJSON_IsTrue(b);
    }
    if (cJSON_IsNull(a) && cJSON_IsNull(b)) {
        return true;
    }
    if (cJSON_IsString(a) && cJSON_IsString(b)) {
        return strcmp(a->valuestring, b->valuestring) == 0;
    }
    return cJSON_Compare(a, b, 1);
}
