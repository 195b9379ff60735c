/* WiFi station: connect, and after every disconnect retry with the core's
 * exponential backoff (jittered), so an access point that reboots is not
 * hammered by every gateway at once. */
#include <inttypes.h>
#include <string.h>

#include "esp_event.h"
#include "esp_log.h"
#include "esp_netif.h"
#include "esp_random.h"
#include "esp_timer.h"
#include "esp_wifi.h"
#include "freertos/FreeRTOS.h" /* must precede the other FreeRTOS headers */
#include "freertos/event_groups.h"
#include "gw_backoff.h"
#include "gw_idf.h"

static const char *TAG = "gw_wifi";
#define GOT_IP_BIT BIT0

static EventGroupHandle_t s_events;
static esp_timer_handle_t s_retry_timer;
static gw_backoff_t s_backoff;

static void retry_now(void *arg)
{
    (void)arg;
    esp_err_t err = esp_wifi_connect();
    if (err != ESP_OK) {
        ESP_LOGW(TAG, "esp_wifi_connect: %s", esp_err_to_name(err));
    }
}

static void schedule_retry(uint8_t reason)
{
    uint32_t delay_ms = gw_backoff_next(&s_backoff, esp_random());
    ESP_LOGW(TAG, "disconnected (reason %u); reconnecting in %" PRIu32 " ms", reason, delay_ms);
    esp_timer_stop(s_retry_timer); /* ESP_ERR_INVALID_STATE when idle: harmless */
    esp_timer_start_once(s_retry_timer, (uint64_t)delay_ms * 1000u);
}

static void on_event(void *arg, esp_event_base_t base, int32_t id, void *data)
{
    (void)arg;
    if (base == WIFI_EVENT && id == WIFI_EVENT_STA_START) {
        retry_now(NULL);
    } else if (base == WIFI_EVENT && id == WIFI_EVENT_STA_DISCONNECTED) {
        xEventGroupClearBits(s_events, GOT_IP_BIT);
        const wifi_event_sta_disconnected_t *d = data;
        schedule_retry(d->reason);
    } else if (base == IP_EVENT && id == IP_EVENT_STA_GOT_IP) {
        const ip_event_got_ip_t *ip = data;
        ESP_LOGI(TAG, "got IP " IPSTR, IP2STR(&ip->ip_info.ip));
        gw_backoff_reset(&s_backoff);
        xEventGroupSetBits(s_events, GOT_IP_BIT);
    }
}

esp_err_t gw_wifi_start(const char *ssid, const char *password, uint32_t backoff_max_ms,
                        uint32_t timeout_ms)
{
    if (ssid == NULL || ssid[0] == '\0') {
        ESP_LOGE(TAG, "WiFi SSID not set: idf.py menuconfig -> RuuviTag gateway -> WiFi");
        return ESP_ERR_INVALID_ARG;
    }
    s_events = xEventGroupCreate();
    gw_backoff_init(&s_backoff, 1000, backoff_max_ms);
    const esp_timer_create_args_t timer_args = {.callback = retry_now, .name = "wifi_retry"};
    ESP_ERROR_CHECK(esp_timer_create(&timer_args, &s_retry_timer));

    esp_netif_create_default_wifi_sta();
    wifi_init_config_t init = WIFI_INIT_CONFIG_DEFAULT();
    ESP_ERROR_CHECK(esp_wifi_init(&init));
    ESP_ERROR_CHECK(esp_event_handler_instance_register(WIFI_EVENT, ESP_EVENT_ANY_ID, on_event, NULL, NULL));
    ESP_ERROR_CHECK(esp_event_handler_instance_register(IP_EVENT, IP_EVENT_STA_GOT_IP, on_event, NULL, NULL));

    wifi_config_t wc = {0};
    strlcpy((char *)wc.sta.ssid, ssid, sizeof(wc.sta.ssid));
    strlcpy((char *)wc.sta.password, password != NULL ? password : "", sizeof(wc.sta.password));
    wc.sta.threshold.authmode = (password != NULL && password[0] != '\0') ? WIFI_AUTH_WPA2_PSK : WIFI_AUTH_OPEN;
    ESP_ERROR_CHECK(esp_wifi_set_mode(WIFI_MODE_STA));
    ESP_ERROR_CHECK(esp_wifi_set_config(WIFI_IF_STA, &wc));
    ESP_ERROR_CHECK(esp_wifi_start());

    EventBits_t bits = xEventGroupWaitBits(s_events, GOT_IP_BIT, pdFALSE, pdTRUE, pdMS_TO_TICKS(timeout_ms));
    if ((bits & GOT_IP_BIT) == 0) {
        ESP_LOGW(TAG, "no IP after %" PRIu32 " ms; still retrying in the background", timeout_ms);
        return ESP_ERR_TIMEOUT;
    }
    return ESP_OK;
}
