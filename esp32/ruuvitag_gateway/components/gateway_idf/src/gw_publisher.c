/* The publisher task: the only owner of gw_core. Readings from the scan and
 * connection events from esp-mqtt arrive through one queue; everything the
 * gateway decides happens in the core. */
#include <inttypes.h>
#include <string.h>

#include "esp_heap_caps.h"
#include "esp_log.h"
#include "freertos/FreeRTOS.h" /* must precede the other FreeRTOS headers */
#include "freertos/task.h"
#include "gw_idf.h"

static const char *TAG = "gw_pub";
#define STATS_EVERY_MS 60000

typedef struct {
    gw_core_t core;
    esp_mqtt_client_handle_t client;
    QueueHandle_t queue;
    int qos;
    const char *status_topic;
    char status_json[128];
} publisher_t;

static bool publish(void *ctx, const char *topic, const char *payload, size_t len)
{
    publisher_t *p = ctx;
    /* msg_id >= 0: accepted into esp-mqtt's outbox (QoS 1 retries from there). */
    return esp_mqtt_client_publish(p->client, topic, payload, (int)len, p->qos, 0) >= 0;
}

static void announce_online(publisher_t *p)
{
    int len = ruuvi_json_status(p->core.cfg.gateway_id, p->core.cfg.gateway_mac, true,
                                p->status_json, sizeof(p->status_json));
    if (len > 0) {
        esp_mqtt_client_publish(p->client, p->status_topic, p->status_json, len, 1, 1);
    }
}

static void log_stats(const publisher_t *p)
{
    const gw_stats_t *s = &p->core.stats;
    ESP_LOGI(TAG,
             "received %" PRIu32 " published %" PRIu32 " duplicates %" PRIu32 " rate-limited %" PRIu32
             " buffered %u (overwritten %" PRIu32 ") clock-unset %" PRIu32 " tags %u",
             s->received, s->published, s->duplicates, s->rate_limited,
             (unsigned)gw_ring_count(&p->core.ring), p->core.ring.overwritten, s->clock_unset,
             (unsigned)gw_tags_count(&p->core.tags));
}

static void handle(publisher_t *p, const gw_event_t *ev)
{
    switch ((gw_event_kind_t)ev->kind) {
    case GW_EVT_ADVERTISEMENT:
        (void)gw_core_on_advertisement(&p->core, ev->tag_mac, ev->rssi, ev->adv, ev->adv_len,
                                       ev->mono_ms, ev->wall_ms);
        break;
    case GW_EVT_MQTT_CONNECTED:
        announce_online(p);
        gw_core_set_online(&p->core, true); /* drains the offline ring, oldest first */
        break;
    case GW_EVT_MQTT_DISCONNECTED:
        gw_core_set_online(&p->core, false);
        break;
    }
}

static void task(void *arg)
{
    publisher_t *p = arg;
    gw_event_t ev;
    TickType_t last_stats = xTaskGetTickCount();
    for (;;) {
        if (xQueueReceive(p->queue, &ev, pdMS_TO_TICKS(1000)) == pdTRUE) {
            handle(p, &ev);
        } else {
            (void)gw_core_drain(&p->core, 32); /* retry readings a refused publish left */
        }
        if (xTaskGetTickCount() - last_stats >= pdMS_TO_TICKS(STATS_EVERY_MS)) {
            log_stats(p);
            last_stats = xTaskGetTickCount();
        }
    }
}

esp_err_t gw_publisher_start(const gw_publisher_config_t *cfg, QueueHandle_t queue,
                             esp_mqtt_client_handle_t client)
{
    if (cfg == NULL || queue == NULL || client == NULL || cfg->max_tags == 0 || cfg->offline_slots == 0) {
        return ESP_ERR_INVALID_ARG;
    }
    /* Allocated once at start-up; nothing is allocated per reading afterwards. */
    publisher_t *p = heap_caps_calloc(1, sizeof(*p), MALLOC_CAP_8BIT);
    gw_tag_t *tags = heap_caps_calloc(cfg->max_tags, sizeof(gw_tag_t), MALLOC_CAP_8BIT);
    gw_observation_t *ring = heap_caps_calloc(cfg->offline_slots, sizeof(gw_observation_t), MALLOC_CAP_8BIT);
    if (p == NULL || tags == NULL || ring == NULL) {
        ESP_LOGE(TAG, "not enough memory for %u tags and %u buffered readings",
                 (unsigned)cfg->max_tags, (unsigned)cfg->offline_slots);
        return ESP_ERR_NO_MEM;
    }
    p->client = client;
    p->queue = queue;
    p->qos = cfg->qos;
    p->status_topic = cfg->status_topic;
    if (!gw_core_init(&p->core, &cfg->core, tags, cfg->max_tags, ring, cfg->offline_slots, publish, p)) {
        return ESP_ERR_INVALID_ARG;
    }
    ruuvi_json_use_static_arena(); /* this task is the only JSON builder */
    return xTaskCreate(task, "gw_publisher", 6144, p, 5, NULL) == pdPASS ? ESP_OK : ESP_ERR_NO_MEM;
}
