/*
 * The gateway's logic between "an advertisement was heard" and "a message
 * was handed to MQTT": parse, decode, filter (tag table), build the JSON, and
 * buffer while offline. The firmware's publisher task and the host emulator
 * both drive this same code; only the publish callback differs (esp-mqtt on
 * the chip, libmosquitto or stdout on the host).
 */
#ifndef GW_CORE_H
#define GW_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_ring.h"
#include "gw_tags.h"
#include "ruuvi_json.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Readings stamped before this (2024-01-01T00:00:00Z) mean SNTP has not set the
 * clock yet; publishing them would store 1970 timestamps downstream. */
#define GW_MIN_VALID_EPOCH_MS 1704067200000LL

/* Returns true once the broker client accepted the message (QoS 1 from there). */
typedef bool (*gw_publish_fn)(void *ctx, const char *topic, const char *payload, size_t len);

typedef struct {
    const char *gateway_id;        /* must outlive the core */
    uint8_t gateway_mac[6];
    const char *topic;             /* data topic, e.g. "ruuvitag/data" */
    uint32_t min_interval_ms;      /* per-tag publish interval, 0 = every new measurement */
    bool allow_e1;                 /* chip receives BLE 5 extended advertising */
    bool all_formats;              /* publish Formats 3/6/E1 too; false = Format 5 only, the
                                    * one the pipeline's adapter accepts (others would only
                                    * fill its dead-letter topic) */
} gw_config_t;

typedef struct {
    uint32_t received;
    uint32_t not_ruuvi;
    uint32_t rejected;             /* Ruuvi data that does not decode */
    uint32_t other_format;         /* decoded, but not published (all_formats off) */
    uint32_t duplicates;
    uint32_t rate_limited;
    uint32_t clock_unset;
    uint32_t published;
    uint32_t buffered;             /* pushed to the offline ring */
    uint32_t publish_failed;
    uint32_t build_failed;
} gw_stats_t;

typedef enum {
    GW_RESULT_PUBLISHED = 0,
    GW_RESULT_BUFFERED,            /* offline or publish failed: kept in the ring */
    GW_RESULT_NOT_RUUVI,
    GW_RESULT_REJECTED,
    GW_RESULT_OTHER_FORMAT,        /* a format this gateway is set not to publish */
    GW_RESULT_DUPLICATE,
    GW_RESULT_RATE_LIMITED,
    GW_RESULT_CLOCK_UNSET,
    GW_RESULT_ERROR,               /* bad arguments or JSON build failure */
} gw_result_t;

typedef struct {
    gw_config_t cfg;
    gw_tag_table_t tags;
    gw_ring_t ring;
    gw_publish_fn publish;
    void *publish_ctx;
    bool online;
    gw_stats_t stats;
    char json[RUUVI_JSON_MESSAGE_MAX];
} gw_core_t;

bool gw_core_init(gw_core_t *core, const gw_config_t *cfg, gw_tag_t *tag_slots, size_t tag_count,
                  gw_observation_t *ring_slots, size_t ring_count, gw_publish_fn publish,
                  void *publish_ctx);

/*
 * One received advertisement. tag_mac: the advertiser's address, MSB first as
 * printed. mono_ms: monotonic clock for rate limiting; wall_ms: UTC epoch ms
 * for the message timestamp.
 */
gw_result_t gw_core_on_advertisement(gw_core_t *core, const uint8_t tag_mac[6], int rssi,
                                     const uint8_t *adv, size_t adv_len, int64_t mono_ms,
                                     int64_t wall_ms);

/* Connection state from the MQTT client's events. Going online drains the ring. */
void gw_core_set_online(gw_core_t *core, bool online);

/* Publishes up to max buffered readings, oldest first; stops at the first
 * failure (the reading stays buffered). Returns how many were published. */
size_t gw_core_drain(gw_core_t *core, size_t max);

const char *gw_result_name(gw_result_t result);

#ifdef __cplusplus
}
#endif

#endif /* GW_CORE_H */
