/* esp-mqtt client: QoS per Kconfig, retained last will "offline" on the
 * status topic, optional TLS. Its own reconnect loop handles the broker;
 * connection changes are forwarded to the publisher task as queue events. */
#include <string.h>

#include "esp_crt_bundle.h"
#include "esp_log.h"
#include "gw_idf.h"

static const char *TAG = "gw_mqtt";

static void post(QueueHandle_t queue, gw_event_kind_t kind)
{
    gw_event_t ev = {.kind = (uint8_t)kind};
    /* To the front: state changes must not wait behind a queue of readings. */
    if (xQueueSendToFront(queue, &ev, pdMS_TO_TICKS(1000)) != pdTRUE) {
        ESP_LOGE(TAG, "could not post connection event %d", (int)kind);
    }
}

static void on_event(void *arg, esp_event_base_t base, int32_t id, void *data)
{
    (void)base;
    QueueHandle_t queue = arg;
    const esp_mqtt_event_handle_t event = data;
    switch ((esp_mqtt_event_id_t)id) {
    case MQTT_EVENT_CONNECTED:
        ESP_LOGI(TAG, "connected to broker");
        post(queue, GW_EVT_MQTT_CONNECTED);
        break;
    case MQTT_EVENT_DISCONNECTED:
        ESP_LOGW(TAG, "disconnected from broker");
        post(queue, GW_EVT_MQTT_DISCONNECTED);
        break;
    case MQTT_EVENT_ERROR:
        if (event != NULL && event->error_handle != NULL) {
            ESP_LOGW(TAG, "error type %d", (int)event->error_handle->error_type);
        }
        break;
    default:
        break;
    }
}

esp_err_t gw_mqtt_start(const gw_mqtt_config_t *cfg, QueueHandle_t queue,
                        esp_mqtt_client_handle_t *out_client)
{
    if (cfg == NULL || queue == NULL || out_client == NULL || cfg->broker_url == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    bool has_user = cfg->username != NULL && cfg->username[0] != '\0';
    esp_mqtt_client_config_t mc = {
        .broker.address.uri = cfg->broker_url,
        .credentials.client_id = cfg->client_id,
        .credentials.username = has_user ? cfg->username : NULL,
        .credentials.authentication.password = has_user ? cfg->password : NULL,
        .session.keepalive = 30,
        .session.last_will.topic = cfg->status_topic,
        .session.last_will.msg = cfg->will_payload,
        .session.last_will.msg_len = (int)strlen(cfg->will_payload),
        .session.last_will.qos = 1,
        .session.last_will.retain = 1,
        .network.reconnect_timeout_ms = 5000,
    };
    bool tls = strncmp(cfg->broker_url, "mqtts://", 8) == 0;
    if (tls && cfg->ca_pem != NULL) {
        mc.broker.verification.certificate = cfg->ca_pem;
    } else if (tls && cfg->use_crt_bundle) {
        mc.broker.verification.crt_bundle_attach = esp_crt_bundle_attach;
    }
    esp_mqtt_client_handle_t client = esp_mqtt_client_init(&mc);
    if (client == NULL) {
        return ESP_FAIL;
    }
    esp_err_t err = esp_mqtt_client_register_event(client, ESP_EVENT_ANY_ID, on_event, queue);
    if (err == ESP_OK) {
        err = esp_mqtt_client_start(client);
    }
    *out_client = client;
    return err;
}
