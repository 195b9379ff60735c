/* Small formatting helpers shared by the gateway core, host tools and tests. */
#ifndef GW_UTIL_H
#define GW_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GW_MAC_STR_LEN 18u      /* "AA:BB:CC:DD:EE:FF" + NUL */
#define GW_ISO8601_MS_LEN 25u   /* "2026-11-23T13:37:00.123Z" + NUL */

/*
 * Parses hex text (upper or lower case, surrounding ASCII whitespace ignored,
 * nothing else accepted: the Python codec's rule) into out. Returns the byte count, or -1 if the text is
 * not an even number of hex digits or does not fit into out_size bytes.
 */
int gw_hex_decode(const char *text, uint8_t *out, size_t out_size);

/* Upper-case hex of n bytes; out_size must be >= 2 * n + 1. Returns false if not. */
bool gw_hex_encode(const uint8_t *bytes, size_t n, char *out, size_t out_size);

/* "AA:BB:..." for n (3 or 6) bytes, upper case. Returns false if out is too small. */
bool gw_format_mac(const uint8_t *mac, size_t n, char *out, size_t out_size);

/* Parses "AA:BB:CC:DD:EE:FF" (either case). Returns false on anything else. */
bool gw_parse_mac(const char *text, uint8_t mac[6]);

/*
 * UTC ISO 8601 with milliseconds, "YYYY-MM-DDTHH:MM:SS.mmmZ", from Unix
 * epoch milliseconds. Pure arithmetic (no gmtime/locale/TZ) so it behaves the
 * same on the chip and the host. Years 1970..9999 only; returns false outside.
 */
bool gw_format_iso8601_ms(int64_t epoch_ms, char *out, size_t out_size);

#ifdef __cplusplus
}
#endif

#endif /* GW_UTIL_H */
