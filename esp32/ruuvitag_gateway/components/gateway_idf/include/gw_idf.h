/*
 * ESP-IDF glue of the RuuviTag gateway. Each piece is thin: it moves data
 * between an ESP-IDF API and the portable core (components/ruuvi_core),
 * which holds every decision and is tested on the host.
 *
 * Data flow: NimBLE host task (scan callback) --queue--> publisher task
 * (gw_core: decode, tag table, offline ring, JSON) --> esp-mqtt.
 * MQTT connection events travel through the same queue, so gw_core is only
 * ever touched by the publisher task and needs no locks.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "esp_err.h"
#include "freertos/FreeRTOS.h"
#include "freertos/queue.h"
#include "gw_core.h"
#include "mqtt_client.h"

typedef enum {
    GW_EVT_ADVERTISEMENT = 0,
    GW_EVT_MQTT_CONNECTED,
    GW_EVT_MQTT_DISCONNECTED,
} gw_event_kind_t;

/* One queue item. Only the Ruuvi manufacturer AD structure is copied (the
 * scan callback filters everything else out), which bounds the item size. */
#define GW_EVENT_ADV_MAX (4u + RUUVI_MAX_PAYLOAD_LEN)

typedef struct {
    uint8_t kind;                 /* gw_event_kind_t */
    int8_t rssi;
    uint8_t adv_len;
    uint8_t tag_mac[6];           /* MSB first, as printed */
    uint8_t adv[GW_EVENT_ADV_MAX];
    int64_t mono_ms;              /* esp_timer time at reception */
    int64_t wall_ms;              /* UTC epoch ms at reception (0 before SNTP) */
} gw_event_t;

/* WiFi station with reconnect backoff. Blocks until the first IP or timeout_ms. */
esp_err_t gw_wifi_start(const char *ssid, const char *password, uint32_t backoff_max_ms,
                        uint32_t timeout_ms);

/* SNTP via esp_netif; waits up to timeout_ms for the first sync (non-fatal). */
esp_err_t gw_sntp_start(const char *server, uint32_t timeout_ms);

typedef struct {
    const char *broker_url;
    const char *username;         /* NULL or "" = anonymous */
    const char *password;
    const char *client_id;
    const char *status_topic;     /* last will target */
    const char *will_payload;     /* {"...","state":"offline"} */
    const char *ca_pem;           /* NULL: bundle (if enabled) or no TLS */
    bool use_crt_bundle;
} gw_mqtt_config_t;

/* Starts esp-mqtt; connection events are posted to queue. */
esp_err_t gw_mqtt_start(const gw_mqtt_config_t *cfg, QueueHandle_t queue,
                        esp_mqtt_client_handle_t *out_client);

typedef struct {
    uint16_t interval_ms;
    uint16_t window_ms;
    bool extended;                /* BLE 5 extended scan (E1) where built in */
} gw_scan_config_t;

/* Starts NimBLE and a passive scan with the duplicate filter off. */
esp_err_t gw_ble_scan_start(const gw_scan_config_t *cfg, QueueHandle_t queue);

typedef struct {
    gw_config_t core;             /* gateway id/MAC, topic, interval, allow_e1 */
    int qos;
    const char *status_topic;
    size_t max_tags;
    size_t offline_slots;
} gw_publisher_config_t;

/* Allocates the tag table and ring once (never again), starts the task. */
esp_err_t gw_publisher_start(const gw_publisher_config_t *cfg, QueueHandle_t queue,
                             esp_mqtt_client_handle_t client);
