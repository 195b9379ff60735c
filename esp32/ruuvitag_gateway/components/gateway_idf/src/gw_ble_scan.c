/*
 * NimBLE passive scan. The controller's duplicate filter is OFF: a RuuviTag
 * keeps the same address and changes only its data, and a filtering
 * controller would report it once and then stay silent. Duplicates of one
 * measurement are removed by the core's tag table instead.
 */
#include <inttypes.h>
#include <string.h>
#include <sys/time.h>

#include "esp_log.h"
#include "esp_timer.h"
#include "gw_idf.h"
#include "host/ble_hs.h"
#include "host/util/util.h"
#include "nimble/nimble_port.h"
#include "nimble/nimble_port_freertos.h"
#include "ruuvi_codec.h"

static const char *TAG = "gw_ble";

/* Extended scanning (BLE 5, Ruuvi E1): NimBLE in ESP-IDF guards it with
 * BLE_EXT_ADV, newer releases with a separate EXT_SCAN option. */
#if defined(CONFIG_BT_NIMBLE_EXT_SCAN)
#define GW_EXT_SCAN CONFIG_BT_NIMBLE_EXT_SCAN
#else
#define GW_EXT_SCAN MYNEWT_VAL(BLE_EXT_ADV)
#endif

static QueueHandle_t s_queue;
static gw_scan_config_t s_cfg;
static uint32_t s_dropped; /* queue full: publisher is behind (logged, not fatal) */

static int on_gap_event(struct ble_gap_event *event, void *arg);

static int64_t wall_ms_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Called on the NimBLE host task for every report: filter, copy, never block. */
static void forward(const ble_addr_t *addr, int8_t rssi, const uint8_t *data, uint8_t len)
{
    const uint8_t *payload = NULL;
    size_t payload_len = 0;
    if (ruuvi_find_manufacturer_payload(data, len, &payload, &payload_len) != RUUVI_OK ||
        payload_len == 0 || payload_len > RUUVI_MAX_PAYLOAD_LEN) {
        return; /* not a RuuviTag (most of the BLE traffic around) */
    }
    gw_event_t ev = {
        .kind = GW_EVT_ADVERTISEMENT,
        .rssi = rssi,
        .adv_len = (uint8_t)(payload_len + 4u),
        .mono_ms = esp_timer_get_time() / 1000,
        .wall_ms = wall_ms_now(),
    };
    /* Rebuild just the manufacturer AD structure the core will parse. */
    ev.adv[0] = (uint8_t)(payload_len + 3u);
    ev.adv[1] = 0xFF;
    ev.adv[2] = (uint8_t)(RUUVI_COMPANY_ID & 0xFFu);
    ev.adv[3] = (uint8_t)(RUUVI_COMPANY_ID >> 8);
    memcpy(ev.adv + 4, payload, payload_len);
    /* NimBLE stores addresses little-endian; messages print them MSB first. */
    for (int i = 0; i < 6; i++) {
        ev.tag_mac[i] = addr->val[5 - i];
    }
    if (xQueueSend(s_queue, &ev, 0) != pdTRUE && (++s_dropped % 100u) == 1u) {
        ESP_LOGW(TAG, "scan queue full: %" PRIu32 " advertisements dropped so far", s_dropped);
    }
}

/* BLE scan timing is in units of 0.625 ms. */
static uint16_t to_units(uint16_t ms)
{
    uint32_t units = ((uint32_t)ms * 1000u) / 625u;
    return (uint16_t)(units < 4u ? 4u : (units > 0x4000u ? 0x4000u : units));
}

static void start_scan(void)
{
    uint8_t own_addr_type;
    int rc = ble_hs_id_infer_auto(0, &own_addr_type);
    if (rc != 0) {
        ESP_LOGE(TAG, "no usable BLE address; rc=%d", rc);
        return;
    }
    uint16_t itvl = to_units(s_cfg.interval_ms);
    uint16_t window = to_units(s_cfg.window_ms);
    window = window > itvl ? itvl : window;
#if GW_EXT_SCAN
    if (s_cfg.extended) {
        struct ble_gap_ext_disc_params uncoded = {.itvl = itvl, .window = window, .passive = 1};
        /* duration 0 + period 0: scan continuously; filter_duplicates = 0. */
        rc = ble_gap_ext_disc(own_addr_type, 0, 0, 0, 0, 0, &uncoded, NULL, on_gap_event, NULL);
        ESP_LOGI(TAG, "extended passive scan started; rc=%d", rc);
        return;
    }
#endif
    struct ble_gap_disc_params params = {
        .itvl = itvl,
        .window = window,
        .filter_policy = 0,
        .limited = 0,
        .passive = 1,           /* listen only: RuuviTags need no scan requests */
        .filter_duplicates = 0, /* see the file comment */
    };
    rc = ble_gap_disc(own_addr_type, BLE_HS_FOREVER, &params, on_gap_event, NULL);
    ESP_LOGI(TAG, "passive scan started; rc=%d", rc);
}

static int on_gap_event(struct ble_gap_event *event, void *arg)
{
    (void)arg;
    switch (event->type) {
    case BLE_GAP_EVENT_DISC:
        forward(&event->disc.addr, event->disc.rssi, event->disc.data, event->disc.length_data);
        return 0;
#if GW_EXT_SCAN
    case BLE_GAP_EVENT_EXT_DISC:
        /* Only complete reports: a fragment could cut a payload in half. */
        if (event->ext_disc.data_status == BLE_GAP_EXT_ADV_DATA_STATUS_COMPLETE) {
            forward(&event->ext_disc.addr, event->ext_disc.rssi, event->ext_disc.data,
                    event->ext_disc.length_data);
        }
        return 0;
#endif
    case BLE_GAP_EVENT_DISC_COMPLETE:
        ESP_LOGW(TAG, "scan ended (reason %d); restarting", event->disc_complete.reason);
        start_scan();
        return 0;
    default:
        return 0;
    }
}

static void on_sync(void)
{
    int rc = ble_hs_util_ensure_addr(0);
    if (rc != 0) {
        ESP_LOGE(TAG, "ble_hs_util_ensure_addr failed; rc=%d", rc);
        return;
    }
    start_scan();
}

static void on_reset(int reason)
{
    ESP_LOGW(TAG, "NimBLE host reset; reason=%d (scan restarts on sync)", reason);
}

static void host_task(void *param)
{
    (void)param;
    nimble_port_run(); /* returns only after nimble_port_stop() */
    nimble_port_freertos_deinit();
}

esp_err_t gw_ble_scan_start(const gw_scan_config_t *cfg, QueueHandle_t queue)
{
    if (cfg == NULL || queue == NULL) {
        return ESP_ERR_INVALID_ARG;
    }
    s_cfg = *cfg;
    s_queue = queue;
    esp_err_t err = nimble_port_init();
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "nimble_port_init failed: %s", esp_err_to_name(err));
        return err;
    }
    ble_hs_cfg.sync_cb = on_sync;
    ble_hs_cfg.reset_cb = on_reset;
    nimble_port_freertos_init(host_task);
    return ESP_OK;
}
