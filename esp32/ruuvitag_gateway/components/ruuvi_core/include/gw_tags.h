/*
 * Table of RuuviTags the gateway has heard, bounded by MAX_RUUVITAGS.
 *
 * With the controller's duplicate filter off, a tag's every advertisement
 * reaches the gateway (several per measurement), so the table decides what
 * is worth publishing: one message per new measurement sequence, at most one
 * per tag per publish interval. Storage is supplied by the caller (static
 * on the chip), and time is passed in (monotonic milliseconds).
 */
#ifndef GW_TAGS_H
#define GW_TAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint8_t mac[6];
    bool used;
    bool published;          /* last_publish_ms / last_seq are meaningful */
    bool has_seq;            /* last published reading carried a sequence number */
    uint32_t last_seq;
    int64_t last_publish_ms;
    int64_t last_seen_ms;    /* for least-recently-seen eviction */
} gw_tag_t;

typedef struct {
    gw_tag_t *slots;
    size_t capacity;
    uint32_t evictions;      /* tags forgotten to make room for new ones */
} gw_tag_table_t;

typedef enum {
    GW_TAG_PUBLISH = 0,
    GW_TAG_DUPLICATE,        /* same measurement sequence as the last one published */
    GW_TAG_RATE_LIMITED,     /* new data, but the tag published less than an interval ago */
} gw_tag_decision_t;

/* slots must hold capacity entries (capacity >= 1); they are cleared. */
bool gw_tags_init(gw_tag_table_t *table, gw_tag_t *slots, size_t capacity);

/*
 * Decides whether a reading from tag mac is published, and records it if so.
 * has_seq/seq: the reading's measurement sequence, if its format has one.
 * min_interval_ms: per-tag publish interval (0 = no rate limit).
 * A new tag in a full table replaces the least recently seen one.
 */
gw_tag_decision_t gw_tags_check(gw_tag_table_t *table, const uint8_t mac[6], bool has_seq,
                                uint32_t seq, int64_t now_ms, uint32_t min_interval_ms);

/* Number of tags currently tracked. */
size_t gw_tags_count(const gw_tag_table_t *table);

#ifdef __cplusplus
}
#endif

#endif /* GW_TAGS_H */
