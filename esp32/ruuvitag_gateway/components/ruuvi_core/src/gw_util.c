#include "gw_util.h"

#include <stdio.h>
#include <string.h>

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static bool is_space(char c)
{
    /* The same set as the Python codec strips: ASCII whitespace. */
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

int gw_hex_decode(const char *text, uint8_t *out, size_t out_size)
{
    if (text == NULL || out == NULL) {
        return -1;
    }
    size_t start = 0;
    size_t end = strlen(text);
    while (start < end && is_space(text[start])) {
        start++;
    }
    while (end > start && is_space(text[end - 1])) {
        end--;
    }
    size_t digits = end - start;
    if (digits % 2u != 0u || digits / 2u > out_size) {
        return -1;
    }
    for (size_t i = 0; i < digits / 2u; i++) {
        int hi = hex_nibble(text[start + 2u * i]);
        int lo = hex_nibble(text[start + 2u * i + 1u]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        out[i] = (uint8_t)((hi << 4) | lo);
    }
    return (int)(digits / 2u);
}

bool gw_hex_encode(const uint8_t *bytes, size_t n, char *out, size_t out_size)
{
    static const char DIGITS[] = "0123456789ABCDEF";
    if (out == NULL || (bytes == NULL && n > 0) || out_size < 2u * n + 1u) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        out[2u * i] = DIGITS[bytes[i] >> 4];
        out[2u * i + 1u] = DIGITS[bytes[i] & 0x0Fu];
    }
    out[2u * n] = '\0';
    return true;
}

bool gw_format_mac(const uint8_t *mac, size_t n, char *out, size_t out_size)
{
    static const char DIGITS[] = "0123456789ABCDEF";
    if (mac == NULL || out == NULL || n == 0 || out_size < 3u * n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        out[3u * i] = DIGITS[mac[i] >> 4];
        out[3u * i + 1u] = DIGITS[mac[i] & 0x0Fu];
        out[3u * i + 2u] = (i + 1u < n) ? ':' : '\0';
    }
    return true;
}

bool gw_parse_mac(const char *text, uint8_t mac[6])
{
    if (text == NULL || mac == NULL || strlen(text) != 17u) {
        return false;
    }
    for (size_t i = 0; i < 6u; i++) {
        int hi = hex_nibble(text[3u * i]);
        int lo = hex_nibble(text[3u * i + 1u]);
        if (hi < 0 || lo < 0 || (i < 5u && text[3u * i + 2u] != ':')) {
            return false;
        }
        mac[i] = (uint8_t)((hi << 4) | lo);
    }
    return true;
}

/* Howard Hinnant's civil_from_days: proleptic Gregorian date of a day count
 * since 1970-01-01, exact for the whole supported range. */
static void civil_from_days(int64_t days, int *year, unsigned *month, unsigned *day)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    unsigned doe = (unsigned)(days - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *day = doy - (153 * mp + 2) / 5 + 1;
    *month = mp < 10 ? mp + 3 : mp - 9;
    *year = (int)(y + (*month <= 2 ? 1 : 0));
}

bool gw_format_iso8601_ms(int64_t epoch_ms, char *out, size_t out_size)
{
    /* 253402300800000 = 10000-01-01T00:00:00Z */
    if (out == NULL || out_size < GW_ISO8601_MS_LEN || epoch_ms < 0 ||
        epoch_ms >= 253402300800000LL) {
        return false;
    }
    int64_t secs = epoch_ms / 1000;
    unsigned ms = (unsigned)(epoch_ms % 1000);
    int64_t days = secs / 86400;
    unsigned sod = (unsigned)(secs % 86400);
    int year;
    unsigned month;
    unsigned day;
    civil_from_days(days, &year, &month, &day);
    int n = snprintf(out, out_size, "%04d-%02u-%02uT%02u:%02u:%02u.%03uZ", year, month, day,
                     sod / 3600u, (sod / 60u) % 60u, sod % 60u, ms);
    return n == (int)GW_ISO8601_MS_LEN - 1;
}
