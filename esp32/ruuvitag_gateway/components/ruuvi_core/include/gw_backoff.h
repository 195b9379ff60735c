/*
 * Reconnect backoff: exponential growth from base_ms to max_ms with "equal
 * jitter" (half fixed, half random) so many gateways that lost the same
 * access point or broker do not reconnect in lockstep. The random number is
 * an argument so the policy is deterministic under test.
 */
#ifndef GW_BACKOFF_H
#define GW_BACKOFF_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint32_t base_ms;
    uint32_t max_ms;
    uint32_t attempt;
} gw_backoff_t;

void gw_backoff_init(gw_backoff_t *b, uint32_t base_ms, uint32_t max_ms);
/* Delay before the next attempt; grows the exponent (saturating). */
uint32_t gw_backoff_next(gw_backoff_t *b, uint32_t random_u32);
/* After a successful connection. */
void gw_backoff_reset(gw_backoff_t *b);

#ifdef __cplusplus
}
#endif

#endif /* GW_BACKOFF_H */
