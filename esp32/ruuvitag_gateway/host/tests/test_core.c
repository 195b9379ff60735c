/* The gateway pipeline with a recording publisher standing in for the MQTT
 * client (pure logic: the real broker is exercised by tests/firmware). */
#include <string.h>

#include "gw_core.h"
#include "gw_util.h"
#include "test_support.h"

#define WALL0 1795441020123LL

typedef struct {
    bool accept;
    int calls;
    char topics[64][32];
    char payloads[64][RUUVI_JSON_MESSAGE_MAX];
} recorder_t;

static bool record(void *ctx, const char *topic, const char *payload, size_t len)
{
    recorder_t *rec = ctx;
    if (!rec->accept) {
        return false;
    }
    if (rec->calls < 64) {
        snprintf(rec->topics[rec->calls], sizeof(rec->topics[0]), "%s", topic);
        CHECK(strlen(payload) == len);
        snprintf(rec->payloads[rec->calls], sizeof(rec->payloads[0]), "%s", payload);
    }
    rec->calls++;
    return true;
}

static gw_tag_t s_tags[8];
static gw_observation_t s_ring[4];

static void setup(gw_core_t *core, recorder_t *rec, uint32_t interval_ms)
{
    memset(rec, 0, sizeof(*rec));
    rec->accept = true;
    gw_config_t cfg = {.gateway_id = "esp32-gw-01", .topic = "ruuvitag/data",
                       .min_interval_ms = interval_ms, .allow_e1 = false};
    CHECK(gw_parse_mac("24:0A:C4:12:34:56", cfg.gateway_mac));
    CHECK(gw_core_init(core, &cfg, s_tags, 8, s_ring, 4, record, rec));
}

/* A legacy advertisement: flags + manufacturer data with a Format 5 payload
 * whose measurement sequence is seq. */
static size_t adv_f5(uint8_t *adv, uint16_t seq)
{
    size_t n = test_hex("0201061BFF99040512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F", adv, 64);
    adv[7 + 16] = (uint8_t)(seq >> 8);
    adv[7 + 17] = (uint8_t)(seq & 0xFF);
    return n;
}

static uint16_t seq_of(const char *payload)
{
    cJSON *doc = cJSON_Parse(payload);
    uint16_t s = (uint16_t)cJSON_GetObjectItem(doc, "measurement_sequence")->valueint;
    cJSON_Delete(doc);
    return s;
}

static void test_publish_path(const cJSON *example)
{
    gw_core_t core;
    recorder_t rec;
    setup(&core, &rec, 0);
    gw_core_set_online(&core, true);
    uint8_t tag[6];
    CHECK(gw_parse_mac("CB:B8:33:4C:88:4F", tag));
    uint8_t adv[64];
    size_t n = adv_f5(adv, 205);
    CHECK(gw_core_on_advertisement(&core, tag, -67, adv, n, 0, WALL0) == GW_RESULT_PUBLISHED);
    char *want = cJSON_PrintUnformatted(cJSON_GetObjectItem(example, "payload"));
    CHECK_MSG(rec.calls == 1 && strcmp(rec.payloads[0], want) == 0, "%s", rec.payloads[0]);
    CHECK(strcmp(rec.topics[0], "ruuvitag/data") == 0);
    cJSON_free(want);
    /* Same measurement again (the tag repeats each one several times). */
    CHECK(gw_core_on_advertisement(&core, tag, -60, adv, n, 10, WALL0 + 10) == GW_RESULT_DUPLICATE);
    CHECK(rec.calls == 1 && core.stats.duplicates == 1);
}

static void test_filters(void)
{
    gw_core_t core;
    recorder_t rec;
    setup(&core, &rec, 10000);
    gw_core_set_online(&core, true);
    uint8_t tag[6] = {0xCB, 0xB8, 0x33, 0x4C, 0x88, 0x4F};
    uint8_t adv[64];
    size_t n = adv_f5(adv, 1);
    CHECK(gw_core_on_advertisement(&core, tag, -70, adv, n, 0, 1000) == GW_RESULT_CLOCK_UNSET);
    CHECK(gw_core_on_advertisement(&core, tag, -70, adv, n, 0, WALL0) == GW_RESULT_PUBLISHED);
    n = adv_f5(adv, 2);
    CHECK(gw_core_on_advertisement(&core, tag, -70, adv, n, 5000, WALL0) == GW_RESULT_RATE_LIMITED);
    CHECK(gw_core_on_advertisement(&core, tag, -70, adv, n, 10000, WALL0) == GW_RESULT_PUBLISHED);
    uint8_t other[64];
    size_t m = test_hex("020106" "0AFF4C0002150102030405", other, sizeof(other));
    CHECK(gw_core_on_advertisement(&core, tag, -70, other, m, 0, WALL0) == GW_RESULT_NOT_RUUVI);
    m = test_hex("020106" "05FF99040512", other, sizeof(other));
    CHECK(gw_core_on_advertisement(&core, tag, -70, other, m, 0, WALL0) == GW_RESULT_REJECTED);
    CHECK(gw_core_on_advertisement(&core, tag, -70, NULL, 3, 0, WALL0) == GW_RESULT_ERROR);
    /* Format 3 decodes, but is published only when all formats are enabled. */
    m = test_hex("020106" "11FF9904" "03291A1ECE1EFC18F94202CA0B53", other, sizeof(other));
    CHECK(gw_core_on_advertisement(&core, tag, -70, other, m, 0, WALL0) == GW_RESULT_OTHER_FORMAT);
    core.cfg.all_formats = true;
    CHECK(gw_core_on_advertisement(&core, tag, -70, other, m, 20000, WALL0) == GW_RESULT_PUBLISHED);
    CHECK(strstr(rec.payloads[rec.calls - 1], "\"data_format\":3,") != NULL);
    CHECK(core.stats.other_format == 1);
    CHECK(core.stats.received == 8 && core.stats.published == 3 && core.stats.not_ruuvi == 1 &&
          core.stats.rejected == 1 && core.stats.rate_limited == 1 && core.stats.clock_unset == 1);
}

/* Offline: readings are buffered; on reconnect they drain oldest first, before
 * anything new; a full ring keeps the newest. */
static void test_offline_buffer(void)
{
    gw_core_t core;
    recorder_t rec;
    setup(&core, &rec, 0);
    uint8_t tag[6] = {0xCB, 0xB8, 0x33, 0x4C, 0x88, 0x4F};
    uint8_t adv[64];
    for (uint16_t s = 1; s <= 6; s++) {
        size_t n = adv_f5(adv, s);
        CHECK(gw_core_on_advertisement(&core, tag, -70, adv, n, s, WALL0 + s) == GW_RESULT_BUFFERED);
    }
    CHECK(rec.calls == 0 && gw_ring_count(&core.ring) == 4 && core.ring.overwritten == 2);
    gw_core_set_online(&core, true);
    CHECK(rec.calls == 4);
    for (int i = 0; i < 4; i++) {
        CHECK(seq_of(rec.payloads[i]) == (uint16_t)(3 + i));
    }
    /* The buffered message keeps the time it was received, not the time it was sent. */
    CHECK(strstr(rec.payloads[0], "\"timestamp\":\"2026-11-23T13:37:00.126Z\"") != NULL);
    /* Broker refuses (client queue full): nothing is lost, order is kept. */
    rec.accept = false;
    size_t n = adv_f5(adv, 7);
    CHECK(gw_core_on_advertisement(&core, tag, -70, adv, n, 7, WALL0) == GW_RESULT_BUFFERED);
    n = adv_f5(adv, 8);
    CHECK(gw_core_on_advertisement(&core, tag, -70, adv, n, 8, WALL0) == GW_RESULT_BUFFERED);
    CHECK(gw_ring_count(&core.ring) == 2);
    rec.accept = true;
    n = adv_f5(adv, 9);
    CHECK(gw_core_on_advertisement(&core, tag, -70, adv, n, 9, WALL0) == GW_RESULT_PUBLISHED);
    CHECK(rec.calls == 7 && gw_ring_count(&core.ring) == 0);
    CHECK(seq_of(rec.payloads[4]) == 7 && seq_of(rec.payloads[5]) == 8 && seq_of(rec.payloads[6]) == 9);
    CHECK(gw_core_drain(&core, 10) == 0);
    /* Going offline again stops draining. */
    gw_core_set_online(&core, false);
    n = adv_f5(adv, 10);
    CHECK(gw_core_on_advertisement(&core, tag, -70, adv, n, 10, WALL0) == GW_RESULT_BUFFERED);
    CHECK(gw_core_drain(&core, 10) == 0 && gw_ring_count(&core.ring) == 1);
}

static void test_init_errors(void)
{
    gw_core_t core;
    gw_config_t cfg = {.gateway_id = "gw", .topic = NULL};
    CHECK(!gw_core_init(&core, &cfg, s_tags, 8, s_ring, 4, record, NULL));
    cfg.topic = "t";
    CHECK(!gw_core_init(&core, &cfg, s_tags, 0, s_ring, 4, record, NULL));
    CHECK(!gw_core_init(&core, &cfg, s_tags, 8, s_ring, 4, NULL, NULL));
    for (int r = GW_RESULT_PUBLISHED; r <= GW_RESULT_ERROR; r++) {
        CHECK(strlen(gw_result_name((gw_result_t)r)) > 0);
    }
}

int main(int argc, char **argv)
{
    const char *vectors = argc > 1 ? argv[1] : "tests/vectors";
    cJSON *example = test_load_json(vectors, "esp32_gateway_message.json");
    test_publish_path(example);
    test_filters();
    test_offline_buffer();
    test_init_errors();
    cJSON_Delete(example);
    return test_finish("test_core");
}
