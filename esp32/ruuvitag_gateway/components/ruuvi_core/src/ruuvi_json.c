#include "ruuvi_json.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "gw_util.h"

/* ---- static arena for cJSON ------------------------------------------------
 * A data message is ~25 cJSON nodes plus a few short strings (< 2 KiB).
 * Keys are added with cJSON_AddItemToObjectCS (constant, not copied). */
#define ARENA_SIZE 4096u

static alignas(max_align_t) unsigned char s_arena[ARENA_SIZE];
static size_t s_arena_used;
static bool s_arena_active;

static bool in_arena(const void *p)
{
    const unsigned char *c = (const unsigned char *)p;
    return c >= s_arena && c < s_arena + ARENA_SIZE;
}

static void *arena_malloc(size_t size)
{
    const size_t align = alignof(max_align_t);
    size_t start = (s_arena_used + align - 1u) & ~(align - 1u);
    if (s_arena_active && start <= ARENA_SIZE && size <= ARENA_SIZE - start) {
        s_arena_used = start + size;
        return s_arena + start;
    }
    /* Outside a build (or an oversized document): ordinary heap. */
    return malloc(size);
}

static void arena_free(void *p)
{
    if (p != NULL && !in_arena(p)) {
        free(p);
    }
    /* Arena memory is released all at once by arena_end(). */
}

void ruuvi_json_use_static_arena(void)
{
    cJSON_Hooks hooks = {.malloc_fn = arena_malloc, .free_fn = arena_free};
    cJSON_InitHooks(&hooks);
}

static void arena_begin(void)
{
    s_arena_used = 0;
    s_arena_active = true;
}

static void arena_end(void)
{
    s_arena_active = false;
    s_arena_used = 0;
}

/* ---- field orders ---------------------------------------------------------- */

typedef struct {
    const ruuvi_field_t *fields;
    size_t count;
} field_list_t;

#define LIST(a) {(a), sizeof(a) / sizeof((a)[0])}

/* Firmware message order for formats 3 and 5 (the shared example's order).
 * Format 3 lacks tx power, movement and sequence: they print as null so the
 * adapter sees one shape for every RuuviTag. */
static const ruuvi_field_t MSG_F5[] = {
    RUUVI_F_TEMPERATURE, RUUVI_F_HUMIDITY, RUUVI_F_PRESSURE,
    RUUVI_F_ACCELERATION_X, RUUVI_F_ACCELERATION_Y, RUUVI_F_ACCELERATION_Z,
    RUUVI_F_BATTERY, RUUVI_F_TX_POWER, RUUVI_F_MOVEMENT_COUNTER, RUUVI_F_MEASUREMENT_SEQUENCE,
};
/* Decoder CLI order for formats 3 and 5: the shared vector file's order. */
static const ruuvi_field_t DEC_F5[] = {
    RUUVI_F_TEMPERATURE, RUUVI_F_HUMIDITY, RUUVI_F_PRESSURE,
    RUUVI_F_ACCELERATION_X, RUUVI_F_ACCELERATION_Y, RUUVI_F_ACCELERATION_Z,
    RUUVI_F_TX_POWER, RUUVI_F_BATTERY, RUUVI_F_MOVEMENT_COUNTER, RUUVI_F_MEASUREMENT_SEQUENCE,
};
static const ruuvi_field_t F6[] = {
    RUUVI_F_TEMPERATURE, RUUVI_F_HUMIDITY, RUUVI_F_PRESSURE, RUUVI_F_PM2_5, RUUVI_F_CO2,
    RUUVI_F_VOC_INDEX, RUUVI_F_NOX_INDEX, RUUVI_F_LUMINOSITY, RUUVI_F_MEASUREMENT_SEQUENCE,
    RUUVI_F_CALIBRATION_IN_PROGRESS,
};
static const ruuvi_field_t E1[] = {
    RUUVI_F_TEMPERATURE, RUUVI_F_HUMIDITY, RUUVI_F_PRESSURE, RUUVI_F_PM1_0, RUUVI_F_PM2_5,
    RUUVI_F_PM4_0, RUUVI_F_PM10_0, RUUVI_F_CO2, RUUVI_F_VOC_INDEX, RUUVI_F_NOX_INDEX,
    RUUVI_F_LUMINOSITY, RUUVI_F_MEASUREMENT_SEQUENCE, RUUVI_F_CALIBRATION_IN_PROGRESS,
};

static field_list_t fields_for(uint8_t data_format, bool message_order)
{
    static const field_list_t msg_f5 = LIST(MSG_F5);
    static const field_list_t dec_f5 = LIST(DEC_F5);
    static const field_list_t f6 = LIST(F6);
    static const field_list_t e1 = LIST(E1);
    static const field_list_t none = {NULL, 0};
    switch (data_format) {
    case RUUVI_FORMAT_3:
    case RUUVI_FORMAT_5: return message_order ? msg_f5 : dec_f5;
    case RUUVI_FORMAT_6: return f6;
    case RUUVI_FORMAT_E1: return e1;
    default: return none;
    }
}

/* ---- cJSON helpers: every Add checks its result so a failed allocation
 * surfaces as a failed build, never a partial document. ---------------------- */

static bool add(cJSON *obj, const char *key, cJSON *item)
{
    if (item == NULL) {
        return false;
    }
    if (!cJSON_AddItemToObjectCS(obj, key, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

static bool add_mac(cJSON *obj, const char *key, const uint8_t *mac, size_t n)
{
    char text[GW_MAC_STR_LEN];
    if (mac == NULL || n == 0) {
        return add(obj, key, cJSON_CreateNull());
    }
    if (!gw_format_mac(mac, n, text, sizeof(text))) {
        return false;
    }
    return add(obj, key, cJSON_CreateString(text));
}

static bool add_field(cJSON *obj, const ruuvi_reading_t *r, ruuvi_field_t f)
{
    const char *key = ruuvi_field_name(f);
    if (!ruuvi_has(r, f)) {
        return add(obj, key, cJSON_CreateNull());
    }
    if (f == RUUVI_F_CALIBRATION_IN_PROGRESS) {
        return add(obj, key, cJSON_CreateBool(r->value[f] != 0.0));
    }
    return add(obj, key, cJSON_CreateNumber(r->value[f]));
}

static bool add_fields(cJSON *obj, const ruuvi_reading_t *r, bool message_order)
{
    field_list_t list = fields_for(r->data_format, message_order);
    if (list.count == 0) {
        return false;
    }
    for (size_t i = 0; i < list.count; i++) {
        if (!add_field(obj, r, list.fields[i])) {
            return false;
        }
    }
    return true;
}

/* Prints and frees root; handles the arena and the output contract. */
static int finish(cJSON *root, bool ok, char *out, size_t out_size)
{
    int len = -1;
    /* cJSON's preallocated printer may need 5 bytes of slack (cJSON.h). */
    if (ok && root != NULL && out_size > 5u && out_size <= (size_t)INT32_MAX &&
        cJSON_PrintPreallocated(root, out, (int)out_size, 0)) {
        len = (int)strlen(out);
    } else if (out_size > 0u) {
        out[0] = '\0';
    }
    cJSON_Delete(root);
    arena_end();
    return len;
}

static bool valid_gateway_id(const char *id)
{
    return id != NULL && id[0] != '\0' && strlen(id) <= RUUVI_JSON_MAX_GATEWAY_ID;
}

static bool add_gateway(cJSON *root, const char *gateway_id, const uint8_t *gateway_mac)
{
    return add(root, "gateway_id", cJSON_CreateString(gateway_id)) &&
           add_mac(root, "gateway_mac", gateway_mac, 6);
}

static bool add_timestamp(cJSON *root, int64_t timestamp_ms)
{
    char ts[GW_ISO8601_MS_LEN];
    return gw_format_iso8601_ms(timestamp_ms, ts, sizeof(ts)) &&
           add(root, "timestamp", cJSON_CreateString(ts));
}

static bool add_raw(cJSON *root, const uint8_t *payload, size_t len)
{
    char raw[2u * RUUVI_MAX_PAYLOAD_LEN + 1u];
    return len <= RUUVI_MAX_PAYLOAD_LEN && gw_hex_encode(payload, len, raw, sizeof(raw)) &&
           add(root, "raw", cJSON_CreateString(raw));
}

static bool message_args_ok(const ruuvi_message_t *m)
{
    return m != NULL && valid_gateway_id(m->gateway_id) && m->gateway_mac != NULL &&
           m->tag_mac != NULL && m->payload != NULL && m->reading != NULL;
}

int ruuvi_json_message(const ruuvi_message_t *m, char *out, size_t out_size)
{
    if (out == NULL) {
        return -1;
    }
    if (!message_args_ok(m)) {
        if (out_size > 0u) {
            out[0] = '\0';
        }
        return -1;
    }
    arena_begin();
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL && add_gateway(root, m->gateway_id, m->gateway_mac) &&
              add_mac(root, "mac", m->tag_mac, 6) &&
              add(root, "rssi", cJSON_CreateNumber((double)m->rssi)) &&
              add_timestamp(root, m->timestamp_ms) &&
              add(root, "data_format", cJSON_CreateNumber((double)m->reading->data_format)) &&
              add_raw(root, m->payload, m->payload_len) && add_fields(root, m->reading, true);
    return finish(root, ok, out, out_size);
}

int ruuvi_json_decoded(const ruuvi_reading_t *r, char *out, size_t out_size)
{
    if (out == NULL) {
        return -1;
    }
    arena_begin();
    cJSON *root = cJSON_CreateObject();
    bool ok = r != NULL && root != NULL &&
              add(root, "data_format", cJSON_CreateNumber((double)r->data_format)) &&
              add_fields(root, r, false) && add_mac(root, "mac", r->mac, r->mac_len);
    return finish(root, ok, out, out_size);
}

int ruuvi_json_error(const char *input, const char *error, char *out, size_t out_size)
{
    if (out == NULL) {
        return -1;
    }
    arena_begin();
    cJSON *root = cJSON_CreateObject();
    bool ok = input != NULL && error != NULL && root != NULL &&
              add(root, "input", cJSON_CreateString(input)) &&
              add(root, "error", cJSON_CreateString(error));
    return finish(root, ok, out, out_size);
}

int ruuvi_json_status(const char *gateway_id, const uint8_t gateway_mac[6], bool online,
                      char *out, size_t out_size)
{
    if (out == NULL) {
        return -1;
    }
    arena_begin();
    cJSON *root = cJSON_CreateObject();
    bool ok = valid_gateway_id(gateway_id) && gateway_mac != NULL && root != NULL &&
              add_gateway(root, gateway_id, gateway_mac) &&
              add(root, "state", cJSON_CreateString(online ? "online" : "offline"));
    return finish(root, ok, out, out_size);
}
