/* libFuzzer target: arbitrary bytes as an advertisement (or bare payload),
 * through the parser, the decoder, the decoded-JSON printer and the whole
 * gateway pipeline. Any output must be well-formed JSON. */
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "gw_core.h"
#include "gw_util.h"
#include "ruuvi_codec.h"
#include "ruuvi_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool sink(void *ctx, const char *topic, const char *payload, size_t len)
{
    (void)topic;
    cJSON *doc = cJSON_ParseWithLength(payload, len);
    if (doc == NULL || strlen(payload) != len) {
        abort();
    }
    cJSON_Delete(doc);
    return (*(const uint8_t *)ctx & 1u) != 0u; /* input decides whether the broker accepts */
}

static void check_json(const char *text)
{
    cJSON *doc = cJSON_Parse(text);
    if (doc == NULL) {
        abort();
    }
    cJSON_Delete(doc);
}

static void decode_and_print(const uint8_t *data, size_t size)
{
    ruuvi_reading_t r;
    const uint8_t *payload = NULL;
    size_t len = 0;
    char out[RUUVI_JSON_MESSAGE_MAX];
    if (ruuvi_decode_any(data, size, true, &r, &payload, &len) == RUUVI_OK) {
        if (payload < data || payload + len > data + size || ruuvi_json_decoded(&r, out, sizeof(out)) < 0) {
            abort();
        }
        check_json(out);
    }
}

static void through_gateway(const uint8_t *data, size_t size)
{
    static gw_tag_t tags[4];
    static gw_observation_t ring[3];
    gw_core_t *core = malloc(sizeof(*core));
    uint8_t accept = size > 0 ? data[0] : 1u;
    gw_config_t cfg = {.gateway_id = "fuzz-gw", .topic = "t", .min_interval_ms = 10, .allow_e1 = true,
                       .all_formats = (size & 1u) != 0u};
    if (core == NULL || !gw_core_init(core, &cfg, tags, 4, ring, 3, sink, &accept)) {
        abort();
    }
    /* The input twice, from two tags, online then offline then online again. */
    uint8_t mac[6] = {1, 2, 3, 4, 5, (uint8_t)size};
    for (int step = 0; step < 4; step++) {
        gw_core_set_online(core, step != 2);
        mac[0] = (uint8_t)step;
        (void)gw_core_on_advertisement(core, mac, -(int)size, data, size, step * 7, 1795441020123LL + step);
    }
    free(core);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode_and_print(data, size);
    through_gateway(data, size);
    /* The hex parser on the same bytes as text. */
    char *text = malloc(size + 1);
    uint8_t bytes[64];
    if (text == NULL) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';
    int n = gw_hex_decode(text, bytes, sizeof(bytes));
    if (n > (int)sizeof(bytes)) {
        abort();
    }
    free(text);
    return 0;
}
