/*
 * Offline buffer: readings kept while WiFi or MQTT is down, drained oldest
 * first on reconnect. Fixed capacity over caller-supplied storage; when full
 * the OLDEST reading is overwritten, because after a long outage the most
 * recent data is the most useful and memory must stay bounded.
 */
#ifndef GW_RING_H
#define GW_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruuvi_codec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One raw observation: enough to rebuild the exact message later. */
typedef struct {
    uint8_t tag_mac[6];
    int8_t rssi;
    uint8_t payload_len;
    int64_t timestamp_ms;    /* wall clock when received, so the message keeps it */
    uint8_t payload[RUUVI_MAX_PAYLOAD_LEN];
} gw_observation_t;

typedef struct {
    gw_observation_t *slots;
    size_t capacity;
    size_t head;             /* index of the oldest entry */
    size_t count;
    uint32_t overwritten;    /* readings lost to overflow */
} gw_ring_t;

bool gw_ring_init(gw_ring_t *ring, gw_observation_t *slots, size_t capacity);
/* Appends; overwrites the oldest entry when full. Returns false on bad arguments. */
bool gw_ring_push(gw_ring_t *ring, const gw_observation_t *obs);
/* Copies the oldest entry without removing it (so a failed publish loses nothing). */
bool gw_ring_peek(const gw_ring_t *ring, gw_observation_t *out);
/* Removes the oldest entry. */
bool gw_ring_pop(gw_ring_t *ring);
size_t gw_ring_count(const gw_ring_t *ring);

#ifdef __cplusplus
}
#endif

#endif /* GW_RING_H */
