/* Tag table (dedup, rate limit, bounded with eviction), offline ring and backoff. */
#include <string.h>

#include "gw_backoff.h"
#include "gw_ring.h"
#include "gw_tags.h"
#include "test_support.h"

static void mac_of(uint8_t mac[6], uint8_t n)
{
    uint8_t m[6] = {0xC0, 0, 0, 0, 0, n};
    memcpy(mac, m, 6);
}

static void test_dedup_and_rate_limit(void)
{
    gw_tag_t slots[4];
    gw_tag_table_t t;
    CHECK(gw_tags_init(&t, slots, 4));
    uint8_t a[6];
    mac_of(a, 1);
    CHECK(gw_tags_check(&t, a, true, 10, 1000, 5000) == GW_TAG_PUBLISH);
    /* The same measurement re-advertised: duplicate, whatever the time. */
    CHECK(gw_tags_check(&t, a, true, 10, 1100, 5000) == GW_TAG_DUPLICATE);
    CHECK(gw_tags_check(&t, a, true, 10, 99000, 5000) == GW_TAG_DUPLICATE);
    /* New measurement too soon after the last publish: rate limited. */
    CHECK(gw_tags_check(&t, a, true, 11, 2000, 5000) == GW_TAG_RATE_LIMITED);
    CHECK(gw_tags_check(&t, a, true, 12, 5999, 5000) == GW_TAG_RATE_LIMITED);
    CHECK(gw_tags_check(&t, a, true, 12, 6000, 5000) == GW_TAG_PUBLISH);
    /* Without sequence numbers (Format 3) only the interval applies. */
    uint8_t b[6];
    mac_of(b, 2);
    CHECK(gw_tags_check(&t, b, false, 0, 0, 1000) == GW_TAG_PUBLISH);
    CHECK(gw_tags_check(&t, b, false, 0, 999, 1000) == GW_TAG_RATE_LIMITED);
    CHECK(gw_tags_check(&t, b, false, 0, 1000, 1000) == GW_TAG_PUBLISH);
    /* Interval 0: every new measurement is published. */
    uint8_t c[6];
    mac_of(c, 3);
    for (uint32_t s = 0; s < 100; s++) {
        CHECK(gw_tags_check(&t, c, true, s, 5, 0) == GW_TAG_PUBLISH);
        CHECK(gw_tags_check(&t, c, true, s, 5, 0) == GW_TAG_DUPLICATE);
    }
    /* A clock that jumps backwards does not silence the tag. */
    CHECK(gw_tags_check(&t, a, true, 13, 10, 5000) == GW_TAG_PUBLISH);
    CHECK(gw_tags_count(&t) == 3);
}

static void test_bounded_eviction(void)
{
    gw_tag_t slots[3];
    gw_tag_table_t t;
    CHECK(gw_tags_init(&t, slots, 3));
    uint8_t m[6];
    for (uint8_t i = 0; i < 3; i++) {
        mac_of(m, i);
        CHECK(gw_tags_check(&t, m, true, 1, 100 + i, 0) == GW_TAG_PUBLISH);
    }
    /* Tag 0 seen again: tag 1 becomes the least recently seen. */
    mac_of(m, 0);
    CHECK(gw_tags_check(&t, m, true, 1, 200, 0) == GW_TAG_DUPLICATE);
    mac_of(m, 9);
    CHECK(gw_tags_check(&t, m, true, 1, 300, 0) == GW_TAG_PUBLISH);
    CHECK(t.evictions == 1 && gw_tags_count(&t) == 3);
    /* Tag 0 is remembered (still a duplicate), tag 1 was forgotten (publishes again). */
    mac_of(m, 0);
    CHECK(gw_tags_check(&t, m, true, 1, 400, 0) == GW_TAG_DUPLICATE);
    mac_of(m, 1);
    CHECK(gw_tags_check(&t, m, true, 1, 500, 0) == GW_TAG_PUBLISH);
    CHECK(t.evictions == 2);
    /* Many more tags than slots: never more than capacity entries. */
    for (uint8_t i = 10; i < 200; i++) {
        mac_of(m, i);
        (void)gw_tags_check(&t, m, true, i, 1000 + i, 0);
    }
    CHECK(gw_tags_count(&t) == 3);
    CHECK(!gw_tags_init(&t, slots, 0));
    CHECK(gw_tags_check(NULL, m, true, 1, 1, 0) == GW_TAG_RATE_LIMITED);
}

static gw_observation_t obs_n(int64_t n)
{
    gw_observation_t o;
    memset(&o, 0, sizeof(o));
    o.timestamp_ms = n;
    o.payload_len = 1;
    o.payload[0] = (uint8_t)n;
    return o;
}

static void test_ring(void)
{
    gw_observation_t slots[4];
    gw_ring_t r;
    gw_observation_t o;
    CHECK(gw_ring_init(&r, slots, 4));
    CHECK(!gw_ring_peek(&r, &o) && !gw_ring_pop(&r));
    for (int64_t i = 1; i <= 3; i++) {
        gw_observation_t x = obs_n(i);
        CHECK(gw_ring_push(&r, &x));
    }
    CHECK(gw_ring_peek(&r, &o) && o.timestamp_ms == 1 && gw_ring_count(&r) == 3);
    CHECK(gw_ring_pop(&r) && gw_ring_peek(&r, &o) && o.timestamp_ms == 2);
    /* Fill past capacity: oldest are overwritten, order kept, wrap-around exercised. */
    for (int64_t i = 4; i <= 10; i++) {
        gw_observation_t x = obs_n(i);
        CHECK(gw_ring_push(&r, &x));
    }
    CHECK(gw_ring_count(&r) == 4 && r.overwritten == 5);
    for (int64_t want = 7; want <= 10; want++) {
        CHECK(gw_ring_peek(&r, &o) && o.timestamp_ms == want);
        CHECK(gw_ring_pop(&r));
    }
    CHECK(gw_ring_count(&r) == 0);
    gw_observation_t bad = obs_n(1);
    bad.payload_len = RUUVI_MAX_PAYLOAD_LEN + 1;
    CHECK(!gw_ring_push(&r, &bad));
    CHECK(!gw_ring_init(&r, slots, 0));
}

static void test_backoff(void)
{
    gw_backoff_t b;
    gw_backoff_init(&b, 1000, 60000);
    /* random 0 -> lower bound (half the ceiling); random max -> the ceiling. */
    CHECK(gw_backoff_next(&b, 0) == 500);
    CHECK(gw_backoff_next(&b, 0) == 1000);
    CHECK(gw_backoff_next(&b, 0) == 2000);
    CHECK(gw_backoff_next(&b, 2000) == 6000); /* ceiling 8000: 4000 + 2000 % 4001 */
    /* ceilings 16 s, 32 s, then capped at 60 s for good */
    CHECK(gw_backoff_next(&b, 0xFFFFFFFFu) <= 16000);
    CHECK(gw_backoff_next(&b, 0xFFFFFFFFu) <= 32000);
    for (int i = 0; i < 100; i++) {
        uint32_t d = gw_backoff_next(&b, 0xFFFFFFFFu - (uint32_t)i);
        CHECK(d >= 30000 && d <= 60000);
    }
    gw_backoff_reset(&b);
    CHECK(gw_backoff_next(&b, 0) == 500);
    uint32_t spread_ok = 1;
    for (uint32_t r = 0; r < 2000; r++) {
        gw_backoff_reset(&b);
        uint32_t d = gw_backoff_next(&b, r);
        spread_ok &= (d >= 500 && d <= 1000) ? 1u : 0u;
    }
    CHECK(spread_ok == 1);
    gw_backoff_init(&b, 0, 0); /* degenerate settings stay sane */
    CHECK(gw_backoff_next(&b, 7) <= 1);
}

int main(void)
{
    test_dedup_and_rate_limit();
    test_bounded_eviction();
    test_ring();
    test_backoff();
    return test_finish("test_tags_ring_backoff");
}
