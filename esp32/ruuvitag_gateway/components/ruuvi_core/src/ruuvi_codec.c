/*
 * RuuviTag advertisement parsing and decoding of data formats 3, 5, 6 and E1.
 * Specifications: docs.ruuvi.com, "Bluetooth advertisements" section.
 */
#include "ruuvi_codec.h"

#include <math.h>
#include <string.h>

#define AD_TYPE_MANUFACTURER_DATA 0xFFu

static const char *const FIELD_NAMES[RUUVI_F_COUNT] = {
    [RUUVI_F_TEMPERATURE] = "temperature",
    [RUUVI_F_HUMIDITY] = "humidity",
    [RUUVI_F_PRESSURE] = "pressure",
    [RUUVI_F_ACCELERATION_X] = "acceleration_x",
    [RUUVI_F_ACCELERATION_Y] = "acceleration_y",
    [RUUVI_F_ACCELERATION_Z] = "acceleration_z",
    [RUUVI_F_TX_POWER] = "tx_power",
    [RUUVI_F_BATTERY] = "battery",
    [RUUVI_F_MOVEMENT_COUNTER] = "movement_counter",
    [RUUVI_F_MEASUREMENT_SEQUENCE] = "measurement_sequence",
    [RUUVI_F_PM1_0] = "pm1_0",
    [RUUVI_F_PM2_5] = "pm2_5",
    [RUUVI_F_PM4_0] = "pm4_0",
    [RUUVI_F_PM10_0] = "pm10_0",
    [RUUVI_F_CO2] = "co2",
    [RUUVI_F_VOC_INDEX] = "voc_index",
    [RUUVI_F_NOX_INDEX] = "nox_index",
    [RUUVI_F_LUMINOSITY] = "luminosity",
    [RUUVI_F_CALIBRATION_IN_PROGRESS] = "calibration_in_progress",
};

const char *ruuvi_field_name(ruuvi_field_t field)
{
    if ((unsigned)field >= (unsigned)RUUVI_F_COUNT) {
        return "?";
    }
    return FIELD_NAMES[field];
}

const char *ruuvi_status_message(ruuvi_status_t status)
{
    switch (status) {
    case RUUVI_OK: return "ok";
    case RUUVI_ERR_ARG: return "invalid argument";
    case RUUVI_ERR_EMPTY: return "empty input";
    case RUUVI_ERR_MALFORMED_AD: return "malformed advertisement: AD structure exceeds data";
    case RUUVI_ERR_NOT_RUUVI: return "no Ruuvi manufacturer data (company id 0x0499)";
    case RUUVI_ERR_UNSUPPORTED: return "unsupported data format";
    case RUUVI_ERR_LENGTH: return "payload length does not match its data format";
    case RUUVI_ERR_FORMAT_DISABLED: return "data format E1 needs BLE 5 extended advertising (disabled in this build)";
    }
    return "unknown error";
}

/* ---- byte readers: big-endian as every Ruuvi field is MSB first ---------- */

static uint16_t be_u16(const uint8_t *p)
{
    return (uint16_t)(((unsigned)p[0] << 8) | (unsigned)p[1]);
}

static int32_t be_i16(const uint8_t *p)
{
    /* Two's complement without implementation-defined conversions. */
    uint16_t u = be_u16(p);
    return (u >= 0x8000u) ? (int32_t)u - 65536 : (int32_t)u;
}

static uint32_t be_u24(const uint8_t *p)
{
    return ((uint32_t)p[0] << 16) | ((uint32_t)p[1] << 8) | (uint32_t)p[2];
}

static void set_value(ruuvi_reading_t *r, ruuvi_field_t f, double v)
{
    r->value[f] = v;
    r->present |= 1u << (unsigned)f;
}

static bool all_ff(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0xFFu) {
            return false;
        }
    }
    return true;
}

static void set_mac(ruuvi_reading_t *r, const uint8_t *p, uint8_t n)
{
    /* All bits set is the spec's "not available" MAC. */
    if (all_ff(p, n)) {
        r->mac_len = 0;
        return;
    }
    memcpy(r->mac, p, n);
    r->mac_len = n;
}

/* ---- shared field decoders (formats 5, 6 and E1 use the same encodings) --- */

static void decode_temperature_0005(ruuvi_reading_t *r, const uint8_t *p)
{
    int32_t raw = be_i16(p);
    if (raw != -32768) {
        set_value(r, RUUVI_F_TEMPERATURE, (double)(raw * 5) / 1000.0);
    }
}

static void decode_humidity_00025(ruuvi_reading_t *r, const uint8_t *p)
{
    uint16_t raw = be_u16(p);
    if (raw != 0xFFFFu) {
        set_value(r, RUUVI_F_HUMIDITY, (double)((int32_t)raw * 25) / 10000.0);
    }
}

static void decode_pressure_offset(ruuvi_reading_t *r, const uint8_t *p)
{
    uint16_t raw = be_u16(p);
    if (raw != 0xFFFFu) {
        set_value(r, RUUVI_F_PRESSURE, (double)((int32_t)raw + 50000));
    }
}

static void decode_acceleration(ruuvi_reading_t *r, ruuvi_field_t f, const uint8_t *p)
{
    int32_t raw = be_i16(p);
    if (raw != -32768) {
        set_value(r, f, (double)raw / 1000.0);
    }
}

static void decode_u16_scaled(ruuvi_reading_t *r, ruuvi_field_t f, const uint8_t *p,
                              double divisor)
{
    uint16_t raw = be_u16(p);
    if (raw != 0xFFFFu) {
        set_value(r, f, (double)raw / divisor);
    }
}

/* VOC/NOX: 9-bit index, upper 8 bits in their own byte, LSB in the flags byte. */
static void decode_index9(ruuvi_reading_t *r, ruuvi_field_t f, uint8_t hi, uint8_t flags,
                          unsigned flag_bit)
{
    uint32_t raw = ((uint32_t)hi << 1) | ((flags >> flag_bit) & 1u);
    if (raw != 0x1FFu) {
        set_value(r, f, (double)raw);
    }
}

/* ---- formats -------------------------------------------------------------- */

static void decode_format3(const uint8_t *p, ruuvi_reading_t *r)
{
    /* RAWv1 has no "not available" values: every field is always present. */
    set_value(r, RUUVI_F_HUMIDITY, (double)p[1] / 2.0);
    int32_t centi = (int32_t)(p[2] & 0x7Fu) * 100 + (int32_t)p[3];
    if ((p[2] & 0x80u) != 0u) {
        centi = -centi; /* sign-magnitude; integer negation keeps -0 out */
    }
    set_value(r, RUUVI_F_TEMPERATURE, (double)centi / 100.0);
    set_value(r, RUUVI_F_PRESSURE, (double)((int32_t)be_u16(p + 4) + 50000));
    set_value(r, RUUVI_F_ACCELERATION_X, (double)be_i16(p + 6) / 1000.0);
    set_value(r, RUUVI_F_ACCELERATION_Y, (double)be_i16(p + 8) / 1000.0);
    set_value(r, RUUVI_F_ACCELERATION_Z, (double)be_i16(p + 10) / 1000.0);
    set_value(r, RUUVI_F_BATTERY, (double)be_u16(p + 12) / 1000.0);
}

static void decode_format5(const uint8_t *p, ruuvi_reading_t *r)
{
    decode_temperature_0005(r, p + 1);
    decode_humidity_00025(r, p + 3);
    decode_pressure_offset(r, p + 5);
    decode_acceleration(r, RUUVI_F_ACCELERATION_X, p + 7);
    decode_acceleration(r, RUUVI_F_ACCELERATION_Y, p + 9);
    decode_acceleration(r, RUUVI_F_ACCELERATION_Z, p + 11);
    uint16_t power = be_u16(p + 13);
    uint32_t battery_raw = (uint32_t)power >> 5; /* 11 bits, mV above 1600 */
    uint32_t tx_raw = (uint32_t)power & 0x1Fu;  /* 5 bits, 2 dBm steps above -40 */
    if (battery_raw != 0x7FFu) {
        set_value(r, RUUVI_F_BATTERY, (double)(1600u + battery_raw) / 1000.0);
    }
    if (tx_raw != 0x1Fu) {
        set_value(r, RUUVI_F_TX_POWER, (double)(-40 + 2 * (int32_t)tx_raw));
    }
    if (p[15] != 0xFFu) {
        set_value(r, RUUVI_F_MOVEMENT_COUNTER, (double)p[15]);
    }
    uint16_t seq = be_u16(p + 16);
    if (seq != 0xFFFFu) {
        set_value(r, RUUVI_F_MEASUREMENT_SEQUENCE, (double)seq);
    }
    set_mac(r, p + 18, 6);
}

/* Format 6 luminosity: 8-bit logarithmic code, value = exp(code * ln(65536) / 254) - 1,
 * rounded to 0.01 lux as the spec asks, so libm differences in the last ulp of
 * exp() (newlib on the chip, glibc on the host) cannot change the result. */
static double format6_luminosity(uint8_t code)
{
    const double delta = log(65536.0) / 254.0;
    double lux = exp((double)code * delta) - 1.0;
    return (double)llround(lux * 100.0) / 100.0;
}

static void decode_format6(const uint8_t *p, ruuvi_reading_t *r)
{
    uint8_t flags = p[16];
    decode_temperature_0005(r, p + 1);
    decode_humidity_00025(r, p + 3);
    decode_pressure_offset(r, p + 5);
    decode_u16_scaled(r, RUUVI_F_PM2_5, p + 7, 10.0);
    decode_u16_scaled(r, RUUVI_F_CO2, p + 9, 1.0);
    decode_index9(r, RUUVI_F_VOC_INDEX, p[11], flags, 6u);
    decode_index9(r, RUUVI_F_NOX_INDEX, p[12], flags, 7u);
    if (p[13] != 0xFFu) {
        set_value(r, RUUVI_F_LUMINOSITY, format6_luminosity(p[13]));
    }
    /* p[14] reserved. The 8-bit sequence has no "not available" value. */
    set_value(r, RUUVI_F_MEASUREMENT_SEQUENCE, (double)p[15]);
    set_value(r, RUUVI_F_CALIBRATION_IN_PROGRESS, (double)(flags & 1u));
    set_mac(r, p + 17, 3);
}

static void decode_formatE1(const uint8_t *p, ruuvi_reading_t *r)
{
    uint8_t flags = p[28];
    decode_temperature_0005(r, p + 1);
    decode_humidity_00025(r, p + 3);
    decode_pressure_offset(r, p + 5);
    decode_u16_scaled(r, RUUVI_F_PM1_0, p + 7, 10.0);
    decode_u16_scaled(r, RUUVI_F_PM2_5, p + 9, 10.0);
    decode_u16_scaled(r, RUUVI_F_PM4_0, p + 11, 10.0);
    decode_u16_scaled(r, RUUVI_F_PM10_0, p + 13, 10.0);
    decode_u16_scaled(r, RUUVI_F_CO2, p + 15, 1.0);
    decode_index9(r, RUUVI_F_VOC_INDEX, p[17], flags, 6u);
    decode_index9(r, RUUVI_F_NOX_INDEX, p[18], flags, 7u);
    uint32_t lux = be_u24(p + 19);
    if (lux != 0xFFFFFFu) {
        set_value(r, RUUVI_F_LUMINOSITY, (double)lux / 100.0);
    }
    /* p[22..24] reserved. */
    uint32_t seq = be_u24(p + 25);
    if (seq != 0xFFFFFFu) {
        set_value(r, RUUVI_F_MEASUREMENT_SEQUENCE, (double)seq);
    }
    set_value(r, RUUVI_F_CALIBRATION_IN_PROGRESS, (double)(flags & 1u));
    /* p[29..33] reserved. */
    set_mac(r, p + 34, 6);
}

size_t ruuvi_format_length(uint8_t data_format)
{
    switch (data_format) {
    case RUUVI_FORMAT_3: return RUUVI_FORMAT3_LEN;
    case RUUVI_FORMAT_5: return RUUVI_FORMAT5_LEN;
    case RUUVI_FORMAT_6: return RUUVI_FORMAT6_LEN;
    case RUUVI_FORMAT_E1: return RUUVI_FORMATE1_LEN;
    default: return 0;
    }
}

ruuvi_status_t ruuvi_decode_payload(const uint8_t *payload, size_t len, bool allow_e1,
                                    ruuvi_reading_t *out)
{
    if (payload == NULL || out == NULL) {
        return RUUVI_ERR_ARG;
    }
    if (len == 0) {
        return RUUVI_ERR_EMPTY;
    }
    size_t expected = ruuvi_format_length(payload[0]);
    if (expected == 0) {
        return RUUVI_ERR_UNSUPPORTED;
    }
    if (payload[0] == RUUVI_FORMAT_E1 && !allow_e1) {
        return RUUVI_ERR_FORMAT_DISABLED;
    }
    if (len != expected) {
        return RUUVI_ERR_LENGTH;
    }
    memset(out, 0, sizeof(*out));
    out->data_format = payload[0];
    switch (payload[0]) {
    case RUUVI_FORMAT_3: decode_format3(payload, out); break;
    case RUUVI_FORMAT_5: decode_format5(payload, out); break;
    case RUUVI_FORMAT_6: decode_format6(payload, out); break;
    default: decode_formatE1(payload, out); break;
    }
    return RUUVI_OK;
}

ruuvi_status_t ruuvi_find_manufacturer_payload(const uint8_t *adv, size_t adv_len,
                                               const uint8_t **payload, size_t *payload_len)
{
    if (adv == NULL || payload == NULL || payload_len == NULL) {
        return RUUVI_ERR_ARG;
    }
    if (adv_len == 0) {
        return RUUVI_ERR_EMPTY;
    }
    size_t pos = 0;
    while (pos < adv_len) {
        size_t field_len = adv[pos]; /* covers the type byte and the data */
        if (field_len == 0) {
            break; /* early terminator: the rest is zero padding */
        }
        if (field_len > adv_len - pos - 1) {
            return RUUVI_ERR_MALFORMED_AD;
        }
        const uint8_t *field = adv + pos + 1;
        /* type + 2-byte company id; the first Ruuvi entry counts even when it
         * is empty (decoding then reports it), as in the Python codec. */
        if (field[0] == AD_TYPE_MANUFACTURER_DATA && field_len >= 3) {
            unsigned company = (unsigned)field[1] | ((unsigned)field[2] << 8);
            if (company == RUUVI_COMPANY_ID) {
                *payload = field + 3;
                *payload_len = field_len - 3;
                return RUUVI_OK;
            }
        }
        pos += field_len + 1;
    }
    return RUUVI_ERR_NOT_RUUVI;
}

ruuvi_status_t ruuvi_decode_any(const uint8_t *data, size_t len, bool allow_e1,
                                ruuvi_reading_t *out, const uint8_t **payload,
                                size_t *payload_len)
{
    if (data == NULL || out == NULL || payload == NULL || payload_len == NULL) {
        return RUUVI_ERR_ARG;
    }
    if (len == 0) {
        return RUUVI_ERR_EMPTY;
    }
    size_t expected = ruuvi_format_length(data[0]);
    if (expected != 0 && expected == len) {
        *payload = data;
        *payload_len = len;
        return ruuvi_decode_payload(data, len, allow_e1, out);
    }
    ruuvi_status_t st = ruuvi_find_manufacturer_payload(data, len, payload, payload_len);
    if (st != RUUVI_OK) {
        /* Starts like a payload but is neither a payload nor an advertisement:
         * the length is the more useful thing to tell the user. */
        return (expected != 0) ? RUUVI_ERR_LENGTH : st;
    }
    return ruuvi_decode_payload(*payload, *payload_len, allow_e1, out);
}
