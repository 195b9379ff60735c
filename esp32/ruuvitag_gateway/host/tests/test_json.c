/* JSON builder tests: the firmware message must reproduce the shared example
 * (tests/vectors/esp32_gateway_message.json) byte for byte as cJSON prints it,
 * and every builder must fail cleanly on bad input or a short buffer. */
#include <stdlib.h>
#include <string.h>

#include "gw_util.h"
#include "ruuvi_json.h"
#include "test_support.h"

#define EXAMPLE_TS_MS 1795441020123LL /* 2026-11-23T13:37:00.123Z */

typedef struct {
    uint8_t gw_mac[6];
    uint8_t tag_mac[6];
    uint8_t payload[RUUVI_MAX_PAYLOAD_LEN];
    size_t payload_len;
    ruuvi_reading_t reading;
    ruuvi_message_t msg;
} fixture_t;

static const char *str(const cJSON *obj, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(item) ? item->valuestring : "";
}

/* Builds the message inputs from the example's own payload fields. */
static void fixture_from_example(fixture_t *fx, const cJSON *payload)
{
    memset(fx, 0, sizeof(*fx));
    CHECK(gw_parse_mac(str(payload, "gateway_mac"), fx->gw_mac));
    CHECK(gw_parse_mac(str(payload, "mac"), fx->tag_mac));
    fx->payload_len = test_hex(str(payload, "raw"), fx->payload, sizeof(fx->payload));
    CHECK(ruuvi_decode_payload(fx->payload, fx->payload_len, true, &fx->reading) == RUUVI_OK);
    fx->msg = (ruuvi_message_t){
        .gateway_id = str(payload, "gateway_id"),
        .gateway_mac = fx->gw_mac,
        .tag_mac = fx->tag_mac,
        .rssi = cJSON_GetObjectItemCaseSensitive(payload, "rssi")->valueint,
        .timestamp_ms = EXAMPLE_TS_MS,
        .payload = fx->payload,
        .payload_len = fx->payload_len,
        .reading = &fx->reading,
    };
}

static void test_message_matches_example(const cJSON *example)
{
    const cJSON *payload = cJSON_GetObjectItemCaseSensitive(example, "payload");
    fixture_t fx;
    fixture_from_example(&fx, payload);
    char out[RUUVI_JSON_MESSAGE_MAX];
    int len = ruuvi_json_message(&fx.msg, out, sizeof(out));
    char *want = cJSON_PrintUnformatted(payload);
    CHECK_MSG(len > 0 && strcmp(out, want) == 0, "\n got: %s\nwant: %s", out, want);
    CHECK(len == (int)strlen(want));
    /* The timestamp the example shows is the one our formatter makes. */
    cJSON *got = cJSON_Parse(out);
    CHECK(got != NULL && strcmp(str(got, "timestamp"), "2026-11-23T13:37:00.123Z") == 0);
    CHECK(strcmp(str(example, "topic"), "ruuvitag/data") == 0);
    cJSON_Delete(got);
    free(want);
}

static void test_status_matches_example(const cJSON *example)
{
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(example, "status_payloads");
    const cJSON *payload = cJSON_GetObjectItemCaseSensitive(example, "payload");
    uint8_t gw_mac[6];
    CHECK(gw_parse_mac(str(payload, "gateway_mac"), gw_mac));
    const char *id = str(payload, "gateway_id");
    char out[256];
    for (int online = 0; online <= 1; online++) {
        const cJSON *want_obj = cJSON_GetObjectItemCaseSensitive(status, online ? "online" : "offline");
        char *want = cJSON_PrintUnformatted(want_obj);
        CHECK(ruuvi_json_status(id, gw_mac, online != 0, out, sizeof(out)) > 0);
        CHECK_MSG(strcmp(out, want) == 0, "got %s want %s", out, want);
        free(want);
    }
    char topic[128];
    snprintf(topic, sizeof(topic), "ruuvitag/status/%s", id);
    CHECK(strcmp(str(example, "status_topic"), topic) == 0);
}

/* Every buffer size below the needed one fails cleanly (ASan watches overflow). */
static void test_short_buffers(const cJSON *example)
{
    fixture_t fx;
    fixture_from_example(&fx, cJSON_GetObjectItemCaseSensitive(example, "payload"));
    char full[RUUVI_JSON_MESSAGE_MAX];
    int need = ruuvi_json_message(&fx.msg, full, sizeof(full));
    CHECK(need > 0);
    int wrong = 0;
    for (size_t size = 0; size <= (size_t)need; size++) {
        char *buf = malloc(size == 0 ? 1 : size);
        int len = ruuvi_json_message(&fx.msg, buf, size);
        if (len >= 0 && (len != need || strcmp(buf, full) != 0)) {
            wrong++; /* a success must be the complete document */
        }
        if (len < 0 && size > 0 && buf[0] != '\0') {
            wrong++;
        }
        free(buf);
    }
    CHECK_MSG(wrong == 0, "%d bad results", wrong);
    char *exact = malloc((size_t)need + 6u);
    CHECK(ruuvi_json_message(&fx.msg, exact, (size_t)need + 6u) == need);
    free(exact);
}

static void test_bad_arguments(const cJSON *example)
{
    fixture_t fx;
    fixture_from_example(&fx, cJSON_GetObjectItemCaseSensitive(example, "payload"));
    char out[RUUVI_JSON_MESSAGE_MAX];
    ruuvi_message_t m = fx.msg;
    m.gateway_id = "";
    CHECK(ruuvi_json_message(&m, out, sizeof(out)) == -1 && out[0] == '\0');
    char long_id[RUUVI_JSON_MAX_GATEWAY_ID + 2];
    memset(long_id, 'g', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    m.gateway_id = long_id;
    CHECK(ruuvi_json_message(&m, out, sizeof(out)) == -1);
    long_id[RUUVI_JSON_MAX_GATEWAY_ID] = '\0'; /* exactly the maximum is fine */
    CHECK(ruuvi_json_message(&m, out, sizeof(out)) > 0);
    m = fx.msg;
    m.timestamp_ms = -1;
    CHECK(ruuvi_json_message(&m, out, sizeof(out)) == -1);
    m = fx.msg;
    m.payload_len = RUUVI_MAX_PAYLOAD_LEN + 1;
    CHECK(ruuvi_json_message(&m, out, sizeof(out)) == -1);
    m = fx.msg;
    m.reading = NULL;
    CHECK(ruuvi_json_message(&m, out, sizeof(out)) == -1);
    CHECK(ruuvi_json_message(NULL, out, sizeof(out)) == -1);
    CHECK(ruuvi_json_message(&fx.msg, NULL, 10) == -1);
    CHECK(ruuvi_json_status(NULL, fx.gw_mac, true, out, sizeof(out)) == -1);
    CHECK(ruuvi_json_decoded(NULL, out, sizeof(out)) == -1);
    CHECK(ruuvi_json_error(NULL, "x", out, sizeof(out)) == -1);
}

static void test_error_object(void)
{
    char out[256];
    const char *input = "05\"zz\\\n";
    CHECK(ruuvi_json_error(input, "not hex", out, sizeof(out)) > 0);
    cJSON *doc = cJSON_Parse(out);
    CHECK(doc != NULL && strcmp(str(doc, "input"), input) == 0 && strcmp(str(doc, "error"), "not hex") == 0);
    CHECK(cJSON_GetArraySize(doc) == 2 && strcmp(doc->child->string, "input") == 0);
    cJSON_Delete(doc);
}

/* Formats 3, 6 and E1: the contract's payloads_by_format, byte for byte. Format 3 prints the
 * Format 5 shape with nulls; 6 and E1 print their own fields. */
static void test_other_format_messages(const cJSON *example)
{
    const cJSON *by_format = cJSON_GetObjectItemCaseSensitive(example, "payloads_by_format");
    const char *const formats[] = {"3", "6", "E1"};
    const int numbers[] = {3, 6, 225};
    CHECK(cJSON_GetArraySize(by_format) == 3);
    for (size_t i = 0; i < 3; i++) {
        const cJSON *payload = cJSON_GetObjectItemCaseSensitive(by_format, formats[i]);
        CHECK_MSG(payload != NULL, "payloads_by_format.%s missing", formats[i]);
        if (payload == NULL) {
            continue;
        }
        fixture_t fx;
        fixture_from_example(&fx, payload);
        CHECK(fx.reading.data_format == numbers[i]);
        char out[RUUVI_JSON_MESSAGE_MAX];
        int len = ruuvi_json_message(&fx.msg, out, sizeof(out));
        char *want = cJSON_PrintUnformatted(payload);
        CHECK_MSG(len > 0 && strcmp(out, want) == 0, "format %s\n got: %s\nwant: %s", formats[i], out,
                  want);
        free(want);
    }
}

/* The static arena: repeated builds give identical output and never leak
 * (LeakSanitizer runs at exit); documents larger than the arena fall back to the heap. */
static void test_arena(const cJSON *example)
{
    ruuvi_json_use_static_arena();
    fixture_t fx;
    fixture_from_example(&fx, cJSON_GetObjectItemCaseSensitive(example, "payload"));
    char first[RUUVI_JSON_MESSAGE_MAX];
    char again[RUUVI_JSON_MESSAGE_MAX];
    CHECK(ruuvi_json_message(&fx.msg, first, sizeof(first)) > 0);
    int differ = 0;
    for (int i = 0; i < 5000; i++) {
        if (ruuvi_json_message(&fx.msg, again, sizeof(again)) <= 0 || strcmp(first, again) != 0) {
            differ++;
        }
    }
    CHECK(differ == 0);
    size_t big_len = 20000;
    char *big = malloc(big_len + 1);
    memset(big, 'A', big_len);
    big[big_len] = '\0';
    char *out = malloc(big_len + 64);
    CHECK(ruuvi_json_error(big, "too long", out, big_len + 64) > (int)big_len);
    free(big);
    free(out);
    /* cJSON used outside the builders still works (heap). */
    cJSON *doc = cJSON_Parse("{\"a\":[1,2,3]}");
    CHECK(doc != NULL && cJSON_GetArraySize(cJSON_GetObjectItem(doc, "a")) == 3);
    cJSON_Delete(doc);
}

int main(int argc, char **argv)
{
    const char *vectors = argc > 1 ? argv[1] : "tests/vectors";
    cJSON *example = test_load_json(vectors, "esp32_gateway_message.json");
    test_message_matches_example(example);
    test_status_matches_example(example);
    test_short_buffers(example);
    test_bad_arguments(example);
    test_error_object();
    test_other_format_messages(example);
    test_arena(example);
    cJSON_Delete(example);
    return test_finish("test_json");
}
