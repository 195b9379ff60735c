/* Decoder tests: the shared official vectors (Format 5, a full advertisement
 * as a Ruuvi Gateway reports it, Formats 3/6/E1), AD-structure edge cases and
 * every "not available" sentinel next to its nearest valid value. */
#include <string.h>

#include "gw_util.h"
#include "ruuvi_codec.h"
#include "ruuvi_json.h"
#include "test_support.h"

static const char *const F5_ORDER[] = {
    "data_format", "temperature", "humidity", "pressure", "acceleration_x", "acceleration_y",
    "acceleration_z", "tx_power", "battery", "movement_counter", "measurement_sequence", "mac"};

/* Decodes bytes with ruuvi_decode_any, prints what ruuvi-decode would print, parses it back. */
static cJSON *decode_to_json(const uint8_t *bytes, size_t n, bool allow_e1)
{
    ruuvi_reading_t r;
    const uint8_t *payload = NULL;
    size_t payload_len = 0;
    ruuvi_status_t st = ruuvi_decode_any(bytes, n, allow_e1, &r, &payload, &payload_len);
    CHECK_MSG(st == RUUVI_OK, "status %s", ruuvi_status_message(st));
    if (st != RUUVI_OK) {
        return NULL;
    }
    char out[RUUVI_JSON_MESSAGE_MAX];
    int len = ruuvi_json_decoded(&r, out, sizeof(out));
    CHECK(len > 0);
    return cJSON_Parse(out);
}

/* Every expected key equals the decoded one (null == not available). */
static void check_expected(const char *name, const cJSON *expected, const cJSON *got)
{
    const cJSON *e = NULL;
    cJSON_ArrayForEach(e, expected)
    {
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(got, e->string);
        CHECK_MSG(g != NULL && test_json_equal(e, g), "%s: field %s", name, e->string);
    }
}

static void check_f5_order(const cJSON *got)
{
    size_t i = 0;
    const cJSON *g = NULL;
    cJSON_ArrayForEach(g, got)
    {
        CHECK_MSG(i < sizeof(F5_ORDER) / sizeof(F5_ORDER[0]) && strcmp(g->string, F5_ORDER[i]) == 0,
                  "key %zu is %s", i, g->string);
        i++;
    }
    CHECK(i == sizeof(F5_ORDER) / sizeof(F5_ORDER[0]));
}

static void test_format5_vectors(const cJSON *doc)
{
    const cJSON *vectors = cJSON_GetObjectItemCaseSensitive(doc, "format5_payloads");
    CHECK(cJSON_GetArraySize(vectors) >= 4);
    const cJSON *v = NULL;
    cJSON_ArrayForEach(v, vectors)
    {
        const char *name = cJSON_GetObjectItemCaseSensitive(v, "name")->valuestring;
        const char *hex = cJSON_GetObjectItemCaseSensitive(v, "hex")->valuestring;
        const cJSON *expected = cJSON_GetObjectItemCaseSensitive(v, "expected");
        uint8_t adv[64] = {0x02, 0x01, 0x06, 0x1B, 0xFF, 0x99, 0x04};
        size_t n = test_hex(hex, adv + 7, sizeof(adv) - 7);
        CHECK(n == RUUVI_FORMAT5_LEN);
        /* As a bare payload ... */
        cJSON *got = decode_to_json(adv + 7, n, false);
        check_expected(name, expected, got);
        CHECK(cJSON_GetObjectItemCaseSensitive(got, "data_format")->valueint == 5);
        check_f5_order(got);
        cJSON_Delete(got);
        /* ... and inside a whole advertisement (flags AD + manufacturer AD). */
        got = decode_to_json(adv, n + 7, false);
        check_expected(name, expected, got);
        cJSON_Delete(got);
    }
}

static void test_gateway_advertisement(const cJSON *doc)
{
    const cJSON *gw = cJSON_GetObjectItemCaseSensitive(doc, "ruuvi_gateway_advertisement");
    uint8_t adv[64];
    size_t n = test_hex(cJSON_GetObjectItemCaseSensitive(gw, "data")->valuestring, adv, sizeof(adv));
    cJSON *got = decode_to_json(adv, n, false);
    check_expected("gateway advertisement", cJSON_GetObjectItemCaseSensitive(gw, "expected"), got);
    cJSON_Delete(got);
}

static void test_other_formats(const cJSON *doc)
{
    const cJSON *v = NULL;
    int count = 0;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(doc, "vectors"))
    {
        const char *name = cJSON_GetObjectItemCaseSensitive(v, "name")->valuestring;
        const cJSON *expected = cJSON_GetObjectItemCaseSensitive(v, "expected");
        uint8_t buf[64];
        size_t n = test_hex(cJSON_GetObjectItemCaseSensitive(v, "hex")->valuestring, buf, sizeof(buf));
        cJSON *got = decode_to_json(buf, n, true);
        /* Exactly the vector's keys, in the vector's order (the CLI contract). */
        check_expected(name, expected, got);
        const cJSON *g = got == NULL ? NULL : got->child;
        const cJSON *e = NULL;
        cJSON_ArrayForEach(e, expected)
        {
            CHECK_MSG(g != NULL && strcmp(g->string, e->string) == 0, "%s: key order at %s", name,
                      e->string);
            g = g == NULL ? NULL : g->next;
        }
        CHECK_MSG(g == NULL, "%s: extra keys", name);
        cJSON_Delete(got);
        count++;
    }
    CHECK(count == 12);
    /* Whole advertisements (legacy and BLE 5 extended) carrying a vector's payload. */
    const cJSON *a = NULL;
    int advs = 0;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(doc, "advertisements"))
    {
        const char *want = cJSON_GetObjectItemCaseSensitive(a, "expected_vector")->valuestring;
        const cJSON *expected = NULL;
        cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(doc, "vectors"))
        {
            if (strcmp(cJSON_GetObjectItemCaseSensitive(v, "name")->valuestring, want) == 0) {
                expected = cJSON_GetObjectItemCaseSensitive(v, "expected");
            }
        }
        uint8_t buf[128];
        size_t n = test_hex(cJSON_GetObjectItemCaseSensitive(a, "data")->valuestring, buf, sizeof(buf));
        cJSON *got = decode_to_json(buf, n, true);
        CHECK_MSG(expected != NULL, "no vector %s", want);
        check_expected(want, expected, got);
        cJSON_Delete(got);
        advs++;
    }
    CHECK(advs == 3);
}

static void test_e1_gated(void)
{
    uint8_t p[RUUVI_FORMATE1_LEN];
    memset(p, 0, sizeof(p));
    p[0] = RUUVI_FORMAT_E1;
    ruuvi_reading_t r;
    CHECK(ruuvi_decode_payload(p, sizeof(p), false, &r) == RUUVI_ERR_FORMAT_DISABLED);
    CHECK(ruuvi_decode_payload(p, sizeof(p), true, &r) == RUUVI_OK);
}

static ruuvi_status_t find(const char *hex, const uint8_t **payload, size_t *len)
{
    static uint8_t buf[300];
    size_t n = test_hex(hex, buf, sizeof(buf));
    return ruuvi_find_manufacturer_payload(buf, n, payload, len);
}

static void test_ad_structures(void)
{
    const uint8_t *p = NULL;
    size_t len = 0;
    /* Ruuvi data after another company's manufacturer data and a name. */
    CHECK(find("020106" "05FF4C000215" "0409525555" "06FF990405AABB", &p, &len) == RUUVI_OK);
    CHECK(len == 3 && p[0] == 0x05 && p[2] == 0xBB);
    /* Company id is little-endian: 0x9904 on air; 0x0499 bytes are another company. */
    CHECK(find("06FF0499051234", &p, &len) == RUUVI_ERR_NOT_RUUVI);
    /* Length byte running past the end. */
    CHECK(find("020106" "1BFF990405", &p, &len) == RUUVI_ERR_MALFORMED_AD);
    CHECK(find("02", &p, &len) == RUUVI_ERR_MALFORMED_AD);
    /* Zero length terminates: the padding after it is not parsed. */
    CHECK(find("020106" "00" "06FF990405AABB", &p, &len) == RUUVI_ERR_NOT_RUUVI);
    /* An empty Ruuvi entry is found (and then fails to decode); a company id cut short is not. */
    CHECK(find("03FF9904" "1BFF990405", &p, &len) == RUUVI_OK && len == 0);
    CHECK(find("02FF99", &p, &len) == RUUVI_ERR_NOT_RUUVI);
    CHECK(find("020106", &p, &len) == RUUVI_ERR_NOT_RUUVI);
    uint8_t empty[1] = {0};
    CHECK(ruuvi_find_manufacturer_payload(empty, 0, &p, &len) == RUUVI_ERR_EMPTY);
    CHECK(ruuvi_find_manufacturer_payload(NULL, 3, &p, &len) == RUUVI_ERR_ARG);
}

static void test_lengths_and_formats(void)
{
    uint8_t buf[64];
    ruuvi_reading_t r;
    const uint8_t *p = NULL;
    size_t len = 0;
    size_t n = test_hex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F", buf, sizeof(buf));
    CHECK(ruuvi_decode_payload(buf, n - 1, false, &r) == RUUVI_ERR_LENGTH);
    buf[n] = 0x00;
    CHECK(ruuvi_decode_payload(buf, n + 1, false, &r) == RUUVI_ERR_LENGTH);
    /* A truncated payload pasted alone is reported as a length problem. */
    CHECK(ruuvi_decode_any(buf, n - 1, false, &r, &p, &len) == RUUVI_ERR_LENGTH);
    buf[0] = 0x04; /* Format 4 (URL) is not a data payload */
    CHECK(ruuvi_decode_payload(buf, n, false, &r) == RUUVI_ERR_UNSUPPORTED);
    CHECK(ruuvi_decode_payload(buf, 0, false, &r) == RUUVI_ERR_EMPTY);
    CHECK(ruuvi_decode_payload(NULL, 24, false, &r) == RUUVI_ERR_ARG);
    n = test_hex("0201061BFF99040612", buf, sizeof(buf));
    CHECK(ruuvi_decode_any(buf, n, true, &r, &p, &len) == RUUVI_ERR_MALFORMED_AD);
    n = test_hex("020106" "04FF990406", buf, sizeof(buf));
    CHECK(ruuvi_decode_any(buf, n, true, &r, &p, &len) == RUUVI_ERR_LENGTH);
    n = test_hex("03FF9904", buf, sizeof(buf));
    CHECK(ruuvi_decode_any(buf, n, true, &r, &p, &len) == RUUVI_ERR_EMPTY);
    for (int s = RUUVI_OK; s <= RUUVI_ERR_FORMAT_DISABLED; s++) {
        CHECK(strlen(ruuvi_status_message((ruuvi_status_t)s)) > 0);
    }
}

/* Sets a big-endian 16-bit field in a copy of the valid Format 5 payload. */
static void f5_with(uint8_t *p, size_t offset, uint16_t raw)
{
    test_hex("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F", p, 24);
    p[offset] = (uint8_t)(raw >> 8);
    p[offset + 1] = (uint8_t)(raw & 0xFFu);
}

static bool f5_field(size_t offset, uint16_t raw, ruuvi_field_t f, double *value)
{
    uint8_t p[24];
    ruuvi_reading_t r;
    f5_with(p, offset, raw);
    if (ruuvi_decode_payload(p, sizeof(p), false, &r) != RUUVI_OK || !ruuvi_has(&r, f)) {
        return false;
    }
    *value = r.value[f];
    return true;
}

static void test_format5_sentinels(void)
{
    double v = 0.0;
    CHECK(!f5_field(1, 0x8000, RUUVI_F_TEMPERATURE, &v));
    CHECK(f5_field(1, 0x8001, RUUVI_F_TEMPERATURE, &v) && v == -163.835);
    CHECK(f5_field(1, 0x01C3, RUUVI_F_TEMPERATURE, &v) && v == 2.255);
    CHECK(f5_field(1, 0xFE3D, RUUVI_F_TEMPERATURE, &v) && v == -2.255);
    CHECK(!f5_field(3, 0xFFFF, RUUVI_F_HUMIDITY, &v));
    CHECK(f5_field(3, 0xFFFE, RUUVI_F_HUMIDITY, &v) && v == 163.835);
    CHECK(!f5_field(5, 0xFFFF, RUUVI_F_PRESSURE, &v));
    CHECK(f5_field(5, 0xFFFE, RUUVI_F_PRESSURE, &v) && v == 115534.0);
    CHECK(!f5_field(7, 0x8000, RUUVI_F_ACCELERATION_X, &v));
    CHECK(!f5_field(9, 0x8000, RUUVI_F_ACCELERATION_Y, &v));
    CHECK(!f5_field(11, 0x8000, RUUVI_F_ACCELERATION_Z, &v));
    CHECK(f5_field(11, 0x8001, RUUVI_F_ACCELERATION_Z, &v) && v == -32.767);
    /* power info: 11 bits battery, 5 bits tx power, independently unavailable */
    CHECK(!f5_field(13, 0xFFE0, RUUVI_F_BATTERY, &v));
    CHECK(f5_field(13, 0xFFE0, RUUVI_F_TX_POWER, &v) && v == -40.0);
    CHECK(!f5_field(13, 0x001F, RUUVI_F_TX_POWER, &v));
    CHECK(f5_field(13, 0x001F, RUUVI_F_BATTERY, &v) && v == 1.6);
    CHECK(f5_field(13, 0xFFDE, RUUVI_F_BATTERY, &v) && v == 3.646);
    CHECK(!f5_field(16, 0xFFFF, RUUVI_F_MEASUREMENT_SEQUENCE, &v));
    CHECK(f5_field(16, 0xFFFE, RUUVI_F_MEASUREMENT_SEQUENCE, &v) && v == 65534.0);
    CHECK(!f5_field(14, 0x00FF, RUUVI_F_MOVEMENT_COUNTER, &v)); /* byte 15 = 0xFF */
    CHECK(f5_field(14, 0x00FE, RUUVI_F_MOVEMENT_COUNTER, &v) && v == 254.0);
    /* MAC: all ones is not available, anything else is kept. */
    uint8_t p[24];
    ruuvi_reading_t r;
    f5_with(p, 18, 0xFFFF);
    memset(p + 18, 0xFF, 6);
    CHECK(ruuvi_decode_payload(p, 24, false, &r) == RUUVI_OK && r.mac_len == 0);
    p[23] = 0xFE;
    CHECK(ruuvi_decode_payload(p, 24, false, &r) == RUUVI_OK && r.mac_len == 6 && r.mac[5] == 0xFE);
}

/* The convention: one correctly rounded division of exact integers, for every raw value. */
static void test_format5_convention_exhaustive(void)
{
    int mismatches = 0;
    for (int32_t raw = -32767; raw <= 32767; raw++) {
        double t = 0.0;
        double a = 0.0;
        uint16_t u = (uint16_t)(raw < 0 ? raw + 65536 : raw);
        if (!f5_field(1, u, RUUVI_F_TEMPERATURE, &t) || t != (double)(raw * 5) / 1000.0) {
            mismatches++;
        }
        if (!f5_field(7, u, RUUVI_F_ACCELERATION_X, &a) || a != (double)raw / 1000.0) {
            mismatches++;
        }
    }
    for (uint32_t raw = 0; raw < 65535u; raw++) {
        double h = 0.0;
        if (!f5_field(3, (uint16_t)raw, RUUVI_F_HUMIDITY, &h) ||
            h != (double)(raw * 25u) / 10000.0) {
            mismatches++;
        }
    }
    CHECK_MSG(mismatches == 0, "%d mismatches", mismatches);
}

int main(int argc, char **argv)
{
    const char *vectors = argc > 1 ? argv[1] : "tests/vectors";
    cJSON *f5 = test_load_json(vectors, "ruuvi_format5.json");
    cJSON *other = test_load_json(vectors, "ruuvi_other_formats.json");
    test_format5_vectors(f5);
    test_gateway_advertisement(f5);
    test_other_formats(other);
    test_e1_gated();
    test_ad_structures();
    test_lengths_and_formats();
    test_format5_sentinels();
    test_format5_convention_exhaustive();
    cJSON_Delete(f5);
    cJSON_Delete(other);
    return test_finish("test_codec");
}
