/*
 * JSON documents the gateway produces, built with cJSON (as ESP-IDF ships
 * it) and printed into caller-provided buffers.
 *
 * The MQTT data message is the contract in tests/vectors/esp32_gateway_message.json:
 * gateway_id, gateway_mac, mac, rssi, timestamp, data_format, raw, then the
 * decoded fields in the firmware's order, not-available values as null.
 * Numbers are printed by cJSON ("%.15g", "%.17g" if that does not round-trip),
 * the rule the project's numeric convention is defined against.
 */
#ifndef RUUVI_JSON_H
#define RUUVI_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ruuvi_codec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest gateway id accepted (Kconfig limits it too); keeps messages bounded. */
#define RUUVI_JSON_MAX_GATEWAY_ID 64u
/* Buffer size that always fits a data or status message. */
#define RUUVI_JSON_MESSAGE_MAX 1024u

typedef struct {
    const char *gateway_id;
    const uint8_t *gateway_mac;   /* 6 bytes */
    const uint8_t *tag_mac;       /* 6 bytes: the advertiser's BLE address */
    int rssi;                     /* dBm */
    int64_t timestamp_ms;         /* Unix epoch milliseconds, UTC */
    const uint8_t *payload;       /* manufacturer payload after the company id */
    size_t payload_len;
    const ruuvi_reading_t *reading;
} ruuvi_message_t;

/*
 * Makes cJSON allocate from one static arena (reset per document) instead of
 * the heap, so publishing never fragments the chip's heap. Call once at start
 * from the single task that builds JSON; cJSON calls elsewhere in the program
 * keep using malloc (the hooks fall back to it outside a build).
 */
void ruuvi_json_use_static_arena(void);

/* Each builder returns the printed length (excluding NUL) or -1 on bad input
 * or a too-small buffer; out is always NUL-terminated when out_size > 0. */
int ruuvi_json_message(const ruuvi_message_t *msg, char *out, size_t out_size);

/* What `ruuvi-decode` prints: data_format, the format's fields, mac. */
int ruuvi_json_decoded(const ruuvi_reading_t *reading, char *out, size_t out_size);

/* {"input": "<as given>", "error": "<message>"} */
int ruuvi_json_error(const char *input, const char *error, char *out, size_t out_size);

/* Last-will / birth message: {"gateway_id", "gateway_mac", "state": "online"|"offline"} */
int ruuvi_json_status(const char *gateway_id, const uint8_t gateway_mac[6], bool online,
                      char *out, size_t out_size);

#ifdef __cplusplus
}
#endif

#endif /* RUUVI_JSON_H */
