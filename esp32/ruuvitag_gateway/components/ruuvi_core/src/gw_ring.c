#include "gw_ring.h"

#include <string.h>

bool gw_ring_init(gw_ring_t *ring, gw_observation_t *slots, size_t capacity)
{
    if (ring == NULL || slots == NULL || capacity == 0) {
        return false;
    }
    ring->slots = slots;
    ring->capacity = capacity;
    ring->head = 0;
    ring->count = 0;
    ring->overwritten = 0;
    return true;
}

bool gw_ring_push(gw_ring_t *ring, const gw_observation_t *obs)
{
    if (ring == NULL || ring->slots == NULL || obs == NULL ||
        obs->payload_len > RUUVI_MAX_PAYLOAD_LEN) {
        return false;
    }
    if (ring->count == ring->capacity) {
        ring->head = (ring->head + 1u) % ring->capacity;
        ring->count--;
        ring->overwritten++;
    }
    size_t tail = (ring->head + ring->count) % ring->capacity;
    ring->slots[tail] = *obs;
    ring->count++;
    return true;
}

bool gw_ring_peek(const gw_ring_t *ring, gw_observation_t *out)
{
    if (ring == NULL || out == NULL || ring->count == 0) {
        return false;
    }
    *out = ring->slots[ring->head];
    return true;
}

bool gw_ring_pop(gw_ring_t *ring)
{
    if (ring == NULL || ring->count == 0) {
        return false;
    }
    ring->head = (ring->head + 1u) % ring->capacity;
    ring->count--;
    return true;
}

size_t gw_ring_count(const gw_ring_t *ring)
{
    return ring == NULL ? 0u : ring->count;
}
