/* Hex, MAC and timestamp helpers; the timestamp formatter is checked against
 * known instants and against the C library's gmtime_r over 200,000 random instants. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_util.h"
#include "test_support.h"

static void test_hex_codec(void)
{
    uint8_t b[8];
    CHECK(gw_hex_decode("0aFf", b, sizeof(b)) == 2 && b[0] == 0x0A && b[1] == 0xFF);
    CHECK(gw_hex_decode("  0102\n\v\f", b, sizeof(b)) == 2 && b[1] == 0x02);
    CHECK(gw_hex_decode("", b, sizeof(b)) == 0);
    CHECK(gw_hex_decode("0x01", b, sizeof(b)) == -1); /* as the Python codec: digits only */
    CHECK(gw_hex_decode("abc", b, sizeof(b)) == -1);
    CHECK(gw_hex_decode("zz", b, sizeof(b)) == -1);
    CHECK(gw_hex_decode("01 02", b, sizeof(b)) == -1);
    CHECK(gw_hex_decode("000102030405060708", b, sizeof(b)) == -1); /* 9 bytes > 8 */
    CHECK(gw_hex_decode("0001020304050607", b, sizeof(b)) == 8);
    CHECK(gw_hex_decode(NULL, b, sizeof(b)) == -1);
    char s[8];
    uint8_t in[3] = {0x00, 0xAB, 0x7F};
    CHECK(gw_hex_encode(in, 3, s, sizeof(s)) && strcmp(s, "00AB7F") == 0);
    CHECK(!gw_hex_encode(in, 3, s, 6));
    CHECK(gw_hex_encode(in, 0, s, 1) && s[0] == '\0');
}

static void test_mac(void)
{
    uint8_t mac[6];
    char s[GW_MAC_STR_LEN];
    CHECK(gw_parse_mac("cb:b8:33:4C:88:4f", mac) && mac[0] == 0xCB && mac[5] == 0x4F);
    CHECK(gw_format_mac(mac, 6, s, sizeof(s)) && strcmp(s, "CB:B8:33:4C:88:4F") == 0);
    CHECK(!gw_format_mac(mac, 6, s, sizeof(s) - 1));
    CHECK(gw_format_mac(mac + 3, 3, s, 9) && strcmp(s, "4C:88:4F") == 0);
    CHECK(!gw_parse_mac("CB:B8:33:4C:88", mac));
    CHECK(!gw_parse_mac("CB-B8-33-4C-88-4F", mac));
    CHECK(!gw_parse_mac("CB:B8:33:4C:88:4G", mac));
    CHECK(!gw_parse_mac(NULL, mac));
}

static void check_ts(int64_t ms, const char *want)
{
    char s[GW_ISO8601_MS_LEN];
    CHECK_MSG(gw_format_iso8601_ms(ms, s, sizeof(s)) && strcmp(s, want) == 0, "%s vs %s", s, want);
}

static void test_timestamp_known(void)
{
    check_ts(0, "1970-01-01T00:00:00.000Z");
    check_ts(1795441020123LL, "2026-11-23T13:37:00.123Z");
    check_ts(951868799999LL, "2000-02-29T23:59:59.999Z");
    check_ts(4107542400999LL, "2100-03-01T00:00:00.999Z");
    check_ts(253402300799999LL, "9999-12-31T23:59:59.999Z");
    char s[GW_ISO8601_MS_LEN];
    CHECK(!gw_format_iso8601_ms(253402300800000LL, s, sizeof(s)));
    CHECK(!gw_format_iso8601_ms(-1, s, sizeof(s)));
    CHECK(!gw_format_iso8601_ms(0, s, sizeof(s) - 1));
}

static void test_timestamp_vs_libc(void)
{
    srand(12345);
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        int64_t ms = (((int64_t)rand() << 31) ^ (int64_t)rand()) % 253402300800000LL;
        time_t secs = (time_t)(ms / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        char want[64];
        snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
        char got[GW_ISO8601_MS_LEN];
        if (!gw_format_iso8601_ms(ms, got, sizeof(got)) || strcmp(got, want) != 0) {
            bad++;
        }
    }
    CHECK_MSG(bad == 0, "%d instants differ from gmtime_r", bad);
}

int main(void)
{
    test_hex_codec();
    test_mac();
    test_timestamp_known();
    test_timestamp_vs_libc();
    return test_finish("test_util");
}
