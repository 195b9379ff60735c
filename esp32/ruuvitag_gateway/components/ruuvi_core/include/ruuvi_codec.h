/*
 * RuuviTag advertisement parsing and data-format decoding.
 *
 * Portable C11: no ESP-IDF headers, no allocation, no global state, so the
 * exact code that runs on the gateway is compiled and tested on the host.
 *
 * Numeric convention (shared with the Python codec, bit for bit): every
 * physical value is ONE correctly rounded division of exact integers, e.g.
 * temperature = raw * 5 / 1000.0. Doubles represent every integer field
 * exactly (all are < 2^53), so integer fields live in the same array.
 */
#ifndef RUUVI_CODEC_H
#define RUUVI_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RUUVI_COMPANY_ID 0x0499u

#define RUUVI_FORMAT_3 0x03u
#define RUUVI_FORMAT_5 0x05u
#define RUUVI_FORMAT_6 0x06u
#define RUUVI_FORMAT_E1 0xE1u

#define RUUVI_FORMAT3_LEN 14u
#define RUUVI_FORMAT5_LEN 24u
#define RUUVI_FORMAT6_LEN 20u
#define RUUVI_FORMATE1_LEN 40u
/* Largest payload any supported format carries (E1). */
#define RUUVI_MAX_PAYLOAD_LEN RUUVI_FORMATE1_LEN

/* Every value a supported format can carry. The order here is irrelevant to
 * JSON output: each format lists its own field order (ruuvi_json.c). */
typedef enum {
    RUUVI_F_TEMPERATURE = 0,
    RUUVI_F_HUMIDITY,
    RUUVI_F_PRESSURE,
    RUUVI_F_ACCELERATION_X,
    RUUVI_F_ACCELERATION_Y,
    RUUVI_F_ACCELERATION_Z,
    RUUVI_F_TX_POWER,
    RUUVI_F_BATTERY,
    RUUVI_F_MOVEMENT_COUNTER,
    RUUVI_F_MEASUREMENT_SEQUENCE,
    RUUVI_F_PM1_0,
    RUUVI_F_PM2_5,
    RUUVI_F_PM4_0,
    RUUVI_F_PM10_0,
    RUUVI_F_CO2,
    RUUVI_F_VOC_INDEX,
    RUUVI_F_NOX_INDEX,
    RUUVI_F_LUMINOSITY,
    RUUVI_F_CALIBRATION_IN_PROGRESS, /* 0 or 1, printed as a JSON boolean */
    RUUVI_F_COUNT
} ruuvi_field_t;

typedef struct {
    uint8_t data_format;
    uint32_t present;           /* bit (1u << field) set = value available */
    double value[RUUVI_F_COUNT];
    uint8_t mac[6];
    uint8_t mac_len;            /* 6 (F5, E1), 3 (F6: low half only), 0 = not available */
} ruuvi_reading_t;

typedef enum {
    RUUVI_OK = 0,
    RUUVI_ERR_ARG,              /* NULL pointer */
    RUUVI_ERR_EMPTY,            /* zero-length input */
    RUUVI_ERR_MALFORMED_AD,     /* an AD structure runs past the end of the data */
    RUUVI_ERR_NOT_RUUVI,        /* no manufacturer data with company id 0x0499 */
    RUUVI_ERR_UNSUPPORTED,      /* unknown data format byte */
    RUUVI_ERR_LENGTH,           /* payload length does not match its format */
    RUUVI_ERR_FORMAT_DISABLED   /* known format this build does not decode (E1 off) */
} ruuvi_status_t;

/* Human-readable, stable message for a status (used in JSON error objects). */
const char *ruuvi_status_message(ruuvi_status_t status);

/* Name of a field as it appears in JSON. */
const char *ruuvi_field_name(ruuvi_field_t field);

static inline bool ruuvi_has(const ruuvi_reading_t *r, ruuvi_field_t f)
{
    return (r->present & (1u << (unsigned)f)) != 0u;
}

/*
 * Walks the AD structures of a BLE advertisement (legacy 31 bytes or an
 * extended one) and returns the Ruuvi manufacturer payload, i.e. the bytes
 * after the little-endian company id 0x0499. *payload points into adv;
 * *payload_len may be 0 (an empty Ruuvi entry), which decoding rejects.
 */
ruuvi_status_t ruuvi_find_manufacturer_payload(const uint8_t *adv, size_t adv_len,
                                               const uint8_t **payload, size_t *payload_len);

/* Expected payload length for a data format byte; 0 if unknown. */
size_t ruuvi_format_length(uint8_t data_format);

/*
 * Decodes a manufacturer payload (first byte = data format). Trailing bytes
 * beyond the format's length are rejected: a Ruuvi tag never sends them, and
 * accepting them would hide a parsing error upstream.
 * allow_e1: E1 arrives only over BLE 5 extended advertising; builds for chips
 * without it pass false so such payloads are reported, not half-supported.
 */
ruuvi_status_t ruuvi_decode_payload(const uint8_t *payload, size_t len, bool allow_e1,
                                    ruuvi_reading_t *out);

/*
 * Decodes what a person pastes: either a bare manufacturer payload (its
 * length matches the format named by its first byte) or a whole
 * advertisement (AD structures).
 */
ruuvi_status_t ruuvi_decode_any(const uint8_t *data, size_t len, bool allow_e1,
                                ruuvi_reading_t *out, const uint8_t **payload,
                                size_t *payload_len);

#ifdef __cplusplus
}
#endif

#endif /* RUUVI_CODEC_H */
