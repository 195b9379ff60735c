/*
 * RuuviTag -> MQTT gateway. app_main only wires the pieces together from the
 * menuconfig settings; the logic is in components/ruuvi_core (host-tested)
 * and the ESP-IDF glue in components/gateway_idf.
 */
#include <stdio.h>
#include <string.h>

#include "esp_event.h"
#include "esp_log.h"
#include "esp_mac.h"
#include "esp_netif.h"
#include "gw_idf.h"
#include "nvs_flash.h"
#include "sdkconfig.h"

#ifndef CONFIG_RUUVI_GW_DECODE_E1
#define CONFIG_RUUVI_GW_DECODE_E1 0 /* chip without BLE 5: option not offered */
#endif
#ifndef CONFIG_RUUVI_GW_PUBLISH_ALL_FORMATS
#define CONFIG_RUUVI_GW_PUBLISH_ALL_FORMATS 0
#endif
#ifndef CONFIG_RUUVI_GW_MQTT_TLS_CRT_BUNDLE
#define CONFIG_RUUVI_GW_MQTT_TLS_CRT_BUNDLE 0
#endif

#if defined(RUUVI_GW_CUSTOM_CA)
extern const char mqtt_ca_pem_start[] asm("_binary_mqtt_ca_pem_start");
#define GW_CA_PEM mqtt_ca_pem_start
#else
#define GW_CA_PEM NULL
#endif

static const char *TAG = "gateway";

/* Strings the components keep pointers to: static storage. */
static char s_gateway_id[RUUVI_JSON_MAX_GATEWAY_ID + 1];
static char s_status_topic[192];
static char s_will[160];

static void init_nvs(void)
{
    /* WiFi and Bluetooth keep calibration data in NVS. */
    esp_err_t err = nvs_flash_init();
    if (err == ESP_ERR_NVS_NO_FREE_PAGES || err == ESP_ERR_NVS_NEW_VERSION_FOUND) {
        ESP_ERROR_CHECK(nvs_flash_erase());
        err = nvs_flash_init();
    }
    ESP_ERROR_CHECK(err);
}

static void init_identity(uint8_t mac[6])
{
    ESP_ERROR_CHECK(esp_read_mac(mac, ESP_MAC_WIFI_STA));
    if (strlen(CONFIG_RUUVI_GW_GATEWAY_ID) > 0) {
        strlcpy(s_gateway_id, CONFIG_RUUVI_GW_GATEWAY_ID, sizeof(s_gateway_id));
    } else {
        snprintf(s_gateway_id, sizeof(s_gateway_id), "esp32-%02x%02x%02x", mac[3], mac[4], mac[5]);
    }
    snprintf(s_status_topic, sizeof(s_status_topic), "%s/%s", CONFIG_RUUVI_GW_MQTT_STATUS_TOPIC_PREFIX,
             s_gateway_id);
    if (ruuvi_json_status(s_gateway_id, mac, false, s_will, sizeof(s_will)) < 0) {
        strlcpy(s_will, "{\"state\":\"offline\"}", sizeof(s_will));
    }
}

void app_main(void)
{
    init_nvs();
    ESP_ERROR_CHECK(esp_netif_init());
    ESP_ERROR_CHECK(esp_event_loop_create_default());

    uint8_t mac[6];
    init_identity(mac);
    ESP_LOGI(TAG, "gateway %s publishing to %s (status %s)", s_gateway_id, CONFIG_RUUVI_GW_MQTT_TOPIC,
             s_status_topic);

    QueueHandle_t queue = xQueueCreate(CONFIG_RUUVI_GW_SCAN_QUEUE_LEN, sizeof(gw_event_t));
    if (queue == NULL) {
        ESP_LOGE(TAG, "no memory for the scan queue");
        return;
    }

    if (gw_wifi_start(CONFIG_RUUVI_GW_WIFI_SSID, CONFIG_RUUVI_GW_WIFI_PASSWORD,
                      CONFIG_RUUVI_GW_WIFI_BACKOFF_MAX_MS, 30000) == ESP_ERR_INVALID_ARG) {
        return; /* not configured: the log says how to fix it */
    }
    (void)gw_sntp_start(CONFIG_RUUVI_GW_SNTP_SERVER, 15000);

    const gw_mqtt_config_t mqtt = {
        .broker_url = CONFIG_RUUVI_GW_MQTT_BROKER_URL,
        .username = CONFIG_RUUVI_GW_MQTT_USERNAME,
        .password = CONFIG_RUUVI_GW_MQTT_PASSWORD,
        .client_id = s_gateway_id,
        .status_topic = s_status_topic,
        .will_payload = s_will,
        .ca_pem = GW_CA_PEM,
        .use_crt_bundle = CONFIG_RUUVI_GW_MQTT_TLS_CRT_BUNDLE,
    };
    esp_mqtt_client_handle_t client = NULL;
    ESP_ERROR_CHECK(gw_mqtt_start(&mqtt, queue, &client));

    gw_publisher_config_t pub = {
        .core = {.gateway_id = s_gateway_id,
                 .topic = CONFIG_RUUVI_GW_MQTT_TOPIC,
                 .min_interval_ms = CONFIG_RUUVI_GW_PUBLISH_INTERVAL_MS,
                 .allow_e1 = CONFIG_RUUVI_GW_DECODE_E1,
                 .all_formats = CONFIG_RUUVI_GW_PUBLISH_ALL_FORMATS},
        .qos = CONFIG_RUUVI_GW_MQTT_QOS,
        .status_topic = s_status_topic,
        .max_tags = CONFIG_RUUVI_GW_MAX_RUUVITAGS,
        .offline_slots = CONFIG_RUUVI_GW_OFFLINE_BUFFER,
    };
    memcpy(pub.core.gateway_mac, mac, sizeof(mac));
    ESP_ERROR_CHECK(gw_publisher_start(&pub, queue, client));

    const gw_scan_config_t scan = {
        .interval_ms = CONFIG_RUUVI_GW_SCAN_INTERVAL_MS,
        .window_ms = CONFIG_RUUVI_GW_SCAN_WINDOW_MS,
        .extended = CONFIG_RUUVI_GW_DECODE_E1,
    };
    ESP_ERROR_CHECK(gw_ble_scan_start(&scan, queue));
}
