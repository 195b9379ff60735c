#include "gw_backoff.h"

#include <stddef.h>

void gw_backoff_init(gw_backoff_t *b, uint32_t base_ms, uint32_t max_ms)
{
    if (b == NULL) {
        return;
    }
    b->base_ms = base_ms == 0u ? 1u : base_ms;
    b->max_ms = max_ms < b->base_ms ? b->base_ms : max_ms;
    b->attempt = 0;
}

static uint32_t ceiling_for(const gw_backoff_t *b)
{
    /* base * 2^attempt, computed without overflow by stopping at max. */
    uint64_t c = b->base_ms;
    for (uint32_t i = 0; i < b->attempt && c < b->max_ms; i++) {
        c *= 2u;
    }
    return c > b->max_ms ? b->max_ms : (uint32_t)c;
}

uint32_t gw_backoff_next(gw_backoff_t *b, uint32_t random_u32)
{
    if (b == NULL) {
        return 0;
    }
    uint32_t ceiling = ceiling_for(b);
    if (b->attempt < 32u) {
        b->attempt++;
    }
    uint32_t half = ceiling / 2u;
    uint32_t spread = ceiling - half; /* delay in [half, ceiling] */
    return half + (uint32_t)((uint64_t)random_u32 % ((uint64_t)spread + 1u));
}

void gw_backoff_reset(gw_backoff_t *b)
{
    if (b != NULL) {
        b->attempt = 0;
    }
}
