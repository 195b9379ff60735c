/* libFuzzer target for the MQTT payload builder: a payload of each supported
 * format filled from the input, with fuzzed gateway id, RSSI and timestamp.
 * The printed message must parse back to exactly the inputs: raw hex, MACs,
 * every decoded value (or null) and the timestamp. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "gw_util.h"
#include "ruuvi_codec.h"
#include "ruuvi_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t FORMATS[4] = {RUUVI_FORMAT_3, RUUVI_FORMAT_5, RUUVI_FORMAT_6, RUUVI_FORMAT_E1};

static void require(bool ok)
{
    if (!ok) {
        abort();
    }
}

static const char *get_str(const cJSON *doc, const char *key)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(doc, key);
    require(cJSON_IsString(item));
    return item->valuestring;
}

static void check_values(const cJSON *doc, const ruuvi_reading_t *r)
{
    for (int f = 0; f < RUUVI_F_COUNT; f++) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(doc, ruuvi_field_name((ruuvi_field_t)f));
        if (item == NULL) {
            require(!ruuvi_has(r, (ruuvi_field_t)f) || r->data_format == RUUVI_FORMAT_3);
            continue;
        }
        if (!ruuvi_has(r, (ruuvi_field_t)f)) {
            require(cJSON_IsNull(item));
        } else if (cJSON_IsBool(item)) {
            require((cJSON_IsTrue(item) ? 1.0 : 0.0) == r->value[f]);
        } else {
            /* Printed numbers must round-trip exactly (the %.15g/%.17g rule). */
            require(cJSON_IsNumber(item) && item->valuedouble == r->value[f]);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 16) {
        return 0;
    }
    uint8_t payload[RUUVI_MAX_PAYLOAD_LEN];
    uint8_t fmt = FORMATS[data[0] & 3u];
    size_t len = ruuvi_format_length(fmt);
    memset(payload, 0xFF, sizeof(payload));
    memcpy(payload, data + 16, size - 16 < len ? size - 16 : len);
    payload[0] = fmt;
    ruuvi_reading_t r;
    require(ruuvi_decode_payload(payload, len, true, &r) == RUUVI_OK);

    char gateway_id[RUUVI_JSON_MAX_GATEWAY_ID + 1];
    size_t id_len = 1u + (data[1] % RUUVI_JSON_MAX_GATEWAY_ID);
    for (size_t i = 0; i < id_len; i++) {
        gateway_id[i] = (char)(0x20 + (data[2 + (i % 6)] + i) % 95); /* printable, incl. " and \ */
    }
    gateway_id[id_len] = '\0';
    int64_t ts = (int64_t)(((uint64_t)data[8] << 40 | (uint64_t)data[9] << 32 | (uint64_t)data[10] << 24 |
                            (uint64_t)data[11] << 16 | (uint64_t)data[12] << 8 | data[13]) %
                           253402300800000ULL);
    ruuvi_message_t m = {gateway_id, data + 2, data + 8, (int8_t)data[14], ts, payload, len, &r};
    char out[RUUVI_JSON_MESSAGE_MAX];
    int n = ruuvi_json_message(&m, out, sizeof(out));
    require(n > 0 && (size_t)n == strlen(out));

    cJSON *doc = cJSON_Parse(out);
    require(doc != NULL);
    require(strcmp(get_str(doc, "gateway_id"), gateway_id) == 0);
    char hex[2 * RUUVI_MAX_PAYLOAD_LEN + 1];
    char text[GW_ISO8601_MS_LEN];
    require(gw_hex_encode(payload, len, hex, sizeof(hex)) && strcmp(get_str(doc, "raw"), hex) == 0);
    require(gw_format_iso8601_ms(ts, text, sizeof(text)) && strcmp(get_str(doc, "timestamp"), text) == 0);
    uint8_t mac[6];
    require(gw_parse_mac(get_str(doc, "mac"), mac) && memcmp(mac, data + 8, 6) == 0);
    require(gw_parse_mac(get_str(doc, "gateway_mac"), mac) && memcmp(mac, data + 2, 6) == 0);
    require(cJSON_GetObjectItemCaseSensitive(doc, "rssi")->valuedouble == (double)(int8_t)data[14]);
    require(cJSON_GetObjectItemCaseSensitive(doc, "data_format")->valueint == fmt);
    check_values(doc, &r);
    cJSON_Delete(doc);

    /* A buffer one byte short must fail cleanly, never overflow. */
    char *tight = malloc((size_t)n);
    require(tight != NULL && ruuvi_json_message(&m, tight, (size_t)n) == -1);
    free(tight);
    return 0;
}
