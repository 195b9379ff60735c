#include "gw_core.h"

#include <string.h>

const char *gw_result_name(gw_result_t result)
{
    switch (result) {
    case GW_RESULT_PUBLISHED: return "published";
    case GW_RESULT_BUFFERED: return "buffered";
    case GW_RESULT_NOT_RUUVI: return "not_ruuvi";
    case GW_RESULT_REJECTED: return "rejected";
    case GW_RESULT_OTHER_FORMAT: return "other_format";
    case GW_RESULT_DUPLICATE: return "duplicate";
    case GW_RESULT_RATE_LIMITED: return "rate_limited";
    case GW_RESULT_CLOCK_UNSET: return "clock_unset";
    case GW_RESULT_ERROR: return "error";
    }
    return "unknown";
}

bool gw_core_init(gw_core_t *core, const gw_config_t *cfg, gw_tag_t *tag_slots, size_t tag_count,
                  gw_observation_t *ring_slots, size_t ring_count, gw_publish_fn publish,
                  void *publish_ctx)
{
    if (core == NULL || cfg == NULL || cfg->gateway_id == NULL || cfg->topic == NULL ||
        publish == NULL) {
        return false;
    }
    memset(core, 0, sizeof(*core));
    core->cfg = *cfg;
    core->publish = publish;
    core->publish_ctx = publish_ctx;
    return gw_tags_init(&core->tags, tag_slots, tag_count) &&
           gw_ring_init(&core->ring, ring_slots, ring_count);
}

/* Builds the message for a stored observation and hands it to the client. */
static gw_result_t publish_observation(gw_core_t *core, const gw_observation_t *obs)
{
    ruuvi_reading_t reading;
    if (ruuvi_decode_payload(obs->payload, obs->payload_len, core->cfg.allow_e1, &reading) !=
        RUUVI_OK) {
        core->stats.build_failed++;
        return GW_RESULT_ERROR;
    }
    ruuvi_message_t msg = {
        .gateway_id = core->cfg.gateway_id,
        .gateway_mac = core->cfg.gateway_mac,
        .tag_mac = obs->tag_mac,
        .rssi = obs->rssi,
        .timestamp_ms = obs->timestamp_ms,
        .payload = obs->payload,
        .payload_len = obs->payload_len,
        .reading = &reading,
    };
    int len = ruuvi_json_message(&msg, core->json, sizeof(core->json));
    if (len < 0) {
        core->stats.build_failed++;
        return GW_RESULT_ERROR;
    }
    if (!core->publish(core->publish_ctx, core->cfg.topic, core->json, (size_t)len)) {
        core->stats.publish_failed++;
        return GW_RESULT_BUFFERED;
    }
    core->stats.published++;
    return GW_RESULT_PUBLISHED;
}

size_t gw_core_drain(gw_core_t *core, size_t max)
{
    size_t done = 0;
    gw_observation_t obs;
    while (core != NULL && core->online && done < max && gw_ring_peek(&core->ring, &obs)) {
        gw_result_t r = publish_observation(core, &obs);
        if (r == GW_RESULT_BUFFERED) {
            break; /* broker refused: keep it, retry on the next drain */
        }
        gw_ring_pop(&core->ring); /* published, or can never be built: drop it */
        if (r == GW_RESULT_PUBLISHED) {
            done++;
        }
    }
    return done;
}

void gw_core_set_online(gw_core_t *core, bool online)
{
    if (core == NULL) {
        return;
    }
    core->online = online;
    if (online) {
        (void)gw_core_drain(core, SIZE_MAX);
    }
}

static gw_result_t buffer_observation(gw_core_t *core, const gw_observation_t *obs)
{
    if (!gw_ring_push(&core->ring, obs)) {
        return GW_RESULT_ERROR;
    }
    core->stats.buffered++;
    return GW_RESULT_BUFFERED;
}

/* Tag table step: returns GW_RESULT_PUBLISHED when the reading should go out. */
static gw_result_t filter_reading(gw_core_t *core, const uint8_t tag_mac[6],
                                  const ruuvi_reading_t *reading, int64_t mono_ms)
{
    bool has_seq = ruuvi_has(reading, RUUVI_F_MEASUREMENT_SEQUENCE);
    uint32_t seq = has_seq ? (uint32_t)reading->value[RUUVI_F_MEASUREMENT_SEQUENCE] : 0u;
    switch (gw_tags_check(&core->tags, tag_mac, has_seq, seq, mono_ms,
                          core->cfg.min_interval_ms)) {
    case GW_TAG_DUPLICATE: core->stats.duplicates++; return GW_RESULT_DUPLICATE;
    case GW_TAG_RATE_LIMITED: core->stats.rate_limited++; return GW_RESULT_RATE_LIMITED;
    case GW_TAG_PUBLISH: break;
    }
    return GW_RESULT_PUBLISHED;
}

static int8_t clamp_rssi(int rssi)
{
    return (int8_t)(rssi < -128 ? -128 : (rssi > 127 ? 127 : rssi));
}

gw_result_t gw_core_on_advertisement(gw_core_t *core, const uint8_t tag_mac[6], int rssi,
                                     const uint8_t *adv, size_t adv_len, int64_t mono_ms,
                                     int64_t wall_ms)
{
    if (core == NULL || tag_mac == NULL || adv == NULL) {
        return GW_RESULT_ERROR;
    }
    core->stats.received++;
    const uint8_t *payload = NULL;
    size_t payload_len = 0;
    if (ruuvi_find_manufacturer_payload(adv, adv_len, &payload, &payload_len) != RUUVI_OK) {
        core->stats.not_ruuvi++;
        return GW_RESULT_NOT_RUUVI;
    }
    ruuvi_reading_t reading;
    if (ruuvi_decode_payload(payload, payload_len, core->cfg.allow_e1, &reading) != RUUVI_OK) {
        core->stats.rejected++;
        return GW_RESULT_REJECTED;
    }
    if (!core->cfg.all_formats && reading.data_format != RUUVI_FORMAT_5) {
        core->stats.other_format++;
        return GW_RESULT_OTHER_FORMAT;
    }
    if (wall_ms < GW_MIN_VALID_EPOCH_MS) {
        core->stats.clock_unset++;
        return GW_RESULT_CLOCK_UNSET;
    }
    gw_result_t verdict = filter_reading(core, tag_mac, &reading, mono_ms);
    if (verdict != GW_RESULT_PUBLISHED) {
        return verdict;
    }
    gw_observation_t obs = {.rssi = clamp_rssi(rssi),
                            .payload_len = (uint8_t)payload_len,
                            .timestamp_ms = wall_ms};
    memcpy(obs.tag_mac, tag_mac, 6);
    memcpy(obs.payload, payload, payload_len); /* decode succeeded: len <= 40 */
    /* Older buffered readings go first so the broker sees them in order. */
    if (core->online) {
        (void)gw_core_drain(core, SIZE_MAX);
    }
    if (!core->online || gw_ring_count(&core->ring) > 0u) {
        return buffer_observation(core, &obs);
    }
    gw_result_t r = publish_observation(core, &obs);
    return r == GW_RESULT_BUFFERED ? buffer_observation(core, &obs) : r;
}
