/* SNTP through esp_netif (ESP-IDF >= 5.1). Until the first sync the core drops
 * readings (their timestamps would be 1970), so waiting here is worth it. */
#include "esp_log.h"
#include "esp_netif_sntp.h"
#include "gw_idf.h"

static const char *TAG = "gw_sntp";

esp_err_t gw_sntp_start(const char *server, uint32_t timeout_ms)
{
    esp_sntp_config_t config = ESP_NETIF_SNTP_DEFAULT_CONFIG(server);
    esp_err_t err = esp_netif_sntp_init(&config);
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "esp_netif_sntp_init: %s", esp_err_to_name(err));
        return err;
    }
    err = esp_netif_sntp_sync_wait(pdMS_TO_TICKS(timeout_ms));
    if (err != ESP_OK) {
        ESP_LOGW(TAG, "clock not set yet (%s); readings wait for it", esp_err_to_name(err));
    } else {
        ESP_LOGI(TAG, "clock set from %s", server);
    }
    return err;
}
