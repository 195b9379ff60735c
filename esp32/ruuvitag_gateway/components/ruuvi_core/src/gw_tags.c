#include "gw_tags.h"

#include <string.h>

bool gw_tags_init(gw_tag_table_t *table, gw_tag_t *slots, size_t capacity)
{
    if (table == NULL || slots == NULL || capacity == 0) {
        return false;
    }
    memset(slots, 0, capacity * sizeof(*slots));
    table->slots = slots;
    table->capacity = capacity;
    table->evictions = 0;
    return true;
}

size_t gw_tags_count(const gw_tag_table_t *table)
{
    size_t n = 0;
    for (size_t i = 0; table != NULL && i < table->capacity; i++) {
        n += table->slots[i].used ? 1u : 0u;
    }
    return n;
}

/* Finds the tag, or claims a free slot, or evicts the least recently seen. */
static gw_tag_t *lookup_or_claim(gw_tag_table_t *table, const uint8_t mac[6])
{
    gw_tag_t *free_slot = NULL;
    gw_tag_t *oldest = &table->slots[0];
    for (size_t i = 0; i < table->capacity; i++) {
        gw_tag_t *t = &table->slots[i];
        if (!t->used) {
            if (free_slot == NULL) {
                free_slot = t;
            }
            continue;
        }
        if (memcmp(t->mac, mac, 6) == 0) {
            return t;
        }
        if (!oldest->used || t->last_seen_ms < oldest->last_seen_ms) {
            oldest = t;
        }
    }
    gw_tag_t *slot = free_slot;
    if (slot == NULL) {
        slot = oldest;
        table->evictions++;
    }
    memset(slot, 0, sizeof(*slot));
    memcpy(slot->mac, mac, 6);
    slot->used = true;
    return slot;
}

static bool interval_elapsed(const gw_tag_t *t, int64_t now_ms, uint32_t min_interval_ms)
{
    if (!t->published || min_interval_ms == 0u) {
        return true;
    }
    /* A clock that went backwards must not silence a tag forever. */
    if (now_ms < t->last_publish_ms) {
        return true;
    }
    return now_ms - t->last_publish_ms >= (int64_t)min_interval_ms;
}

gw_tag_decision_t gw_tags_check(gw_tag_table_t *table, const uint8_t mac[6], bool has_seq,
                                uint32_t seq, int64_t now_ms, uint32_t min_interval_ms)
{
    if (table == NULL || table->slots == NULL || table->capacity == 0 || mac == NULL) {
        return GW_TAG_RATE_LIMITED; /* misuse: publish nothing rather than crash */
    }
    gw_tag_t *t = lookup_or_claim(table, mac);
    t->last_seen_ms = now_ms;
    if (t->published && has_seq && t->has_seq && t->last_seq == seq) {
        return GW_TAG_DUPLICATE;
    }
    if (!interval_elapsed(t, now_ms, min_interval_ms)) {
        return GW_TAG_RATE_LIMITED;
    }
    t->published = true;
    t->has_seq = has_seq;
    t->last_seq = seq;
    t->last_publish_ms = now_ms;
    return GW_TAG_PUBLISH;
}
