/*
 * ruuvi-gateway-emulator: the ESP32 gateway's core on a PC. Reads raw
 * advertisements and runs them through the same gw_core as the firmware
 * (decode, tag table, offline ring, JSON), publishing with libmosquitto
 * exactly as the firmware does with esp-mqtt: data on the topic at QoS 1,
 * a retained "online" status on ruuvitag/status/<gateway_id> and a retained
 * "offline" last will.
 *
 *   ruuvi-gateway-emulator --vectors tests/vectors/ruuvi_format5.json
 *   ruuvi-gateway-emulator --input adverts.txt --count 1000 --rate 20
 *   ruuvi-gateway-emulator --vectors ... --stdout     (print, no broker)
 *   ruuvi-gateway-emulator --vectors ... --forever --rate 2   (until SIGTERM)
 *
 * When --count exceeds the inputs, they repeat with the measurement sequence
 * advanced by the round number, so the tag table sees new measurements
 * (the real tags' behaviour) rather than duplicates.
 */
#define _POSIX_C_SOURCE 200809L
#include <getopt.h>
#include <limits.h>
#include <mosquitto.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gw_core.h"
#include "gw_util.h"
#include "vectors_input.h"

#define TAG_SLOTS 64u
#define RING_SLOTS 1024u

typedef struct {
    const char *host;
    int port;
    const char *topic;
    const char *gateway_id;
    uint8_t gateway_mac[6];
    uint8_t default_tag_mac[6];
    int rssi;
    double rate;
    long count;
    uint32_t interval_ms;
    const char *input;
    const char *vectors;
    const char *username;
    const char *password;
    const char *cafile;
    bool to_stdout;
    bool forever;            /* repeat until SIGINT/SIGTERM (make run) */
    bool all_formats;        /* like the firmware's menuconfig option; default Format 5 only */
} emu_options_t;

typedef struct {
    struct mosquitto *mosq;
    atomic_bool connected;
    atomic_long acked;
    long sent;
} emu_mqtt_t;

static volatile sig_atomic_t s_stop;

static void on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static int64_t now_ms(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- publishing ------------------------------------------------------------- */

static bool publish_stdout(void *ctx, const char *topic, const char *payload, size_t len)
{
    (void)ctx;
    (void)topic;
    fwrite(payload, 1, len, stdout);
    fputc('\n', stdout);
    return fflush(stdout) == 0;
}

static bool publish_mqtt(void *ctx, const char *topic, const char *payload, size_t len)
{
    emu_mqtt_t *m = ctx;
    int rc = mosquitto_publish(m->mosq, NULL, topic, (int)len, payload, 1, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        return false;
    }
    m->sent++;
    return true;
}

static void on_connect(struct mosquitto *mosq, void *ctx, int rc)
{
    (void)mosq;
    emu_mqtt_t *m = ctx;
    if (rc == 0) {
        atomic_store(&m->connected, true);
    } else {
        fprintf(stderr, "broker refused connection: %s\n", mosquitto_connack_string(rc));
    }
}

static void on_disconnect(struct mosquitto *mosq, void *ctx, int rc)
{
    (void)mosq;
    (void)rc;
    atomic_store(&((emu_mqtt_t *)ctx)->connected, false);
}

static void on_publish(struct mosquitto *mosq, void *ctx, int mid)
{
    (void)mosq;
    (void)mid;
    atomic_fetch_add(&((emu_mqtt_t *)ctx)->acked, 1);
}

static bool wait_until(atomic_bool *flag, long timeout_ms)
{
    for (long waited = 0; !atomic_load(flag) && waited < timeout_ms && !s_stop; waited += 20) {
        sleep_ms(20);
    }
    return atomic_load(flag);
}

static bool publish_status(emu_mqtt_t *m, const emu_options_t *o, const char *topic, bool online)
{
    char json[256];
    int len = ruuvi_json_status(o->gateway_id, o->gateway_mac, online, json, sizeof(json));
    if (len < 0) {
        return false;
    }
    if (mosquitto_publish(m->mosq, NULL, topic, len, json, 1, true) != MOSQ_ERR_SUCCESS) {
        return false;
    }
    m->sent++;
    return true;
}

static bool mqtt_start(emu_mqtt_t *m, const emu_options_t *o, const char *status_topic)
{
    char client_id[128];
    snprintf(client_id, sizeof(client_id), "ruuvi-emu-%s-%ld", o->gateway_id, (long)getpid());
    mosquitto_lib_init();
    m->mosq = mosquitto_new(client_id, true, m);
    if (m->mosq == NULL) {
        return false;
    }
    mosquitto_connect_callback_set(m->mosq, on_connect);
    mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
    mosquitto_publish_callback_set(m->mosq, on_publish);
    char will[256];
    int wlen = ruuvi_json_status(o->gateway_id, o->gateway_mac, false, will, sizeof(will));
    if (wlen < 0 || mosquitto_will_set(m->mosq, status_topic, wlen, will, 1, true) != MOSQ_ERR_SUCCESS) {
        return false;
    }
    /* The password may come from MQTT_PASSWORD, so it is not visible in the process list. */
    const char *password = o->password != NULL ? o->password : getenv("MQTT_PASSWORD");
    if (o->username != NULL &&
        mosquitto_username_pw_set(m->mosq, o->username, password) != MOSQ_ERR_SUCCESS) {
        return false;
    }
    /* TLS (mqtts) with the broker's CA, as the firmware's embedded main/certs/mqtt_ca.pem. */
    if (o->cafile != NULL &&
        mosquitto_tls_set(m->mosq, o->cafile, NULL, NULL, NULL, NULL) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "cannot use CA file %s\n", o->cafile);
        return false;
    }
    /* Unacknowledged QoS 1 messages are limited by the broker's receive
     * maximum; libmosquitto queues the rest, so no publish is refused. */
    mosquitto_max_inflight_messages_set(m->mosq, 100);
    int rc = mosquitto_connect_async(m->mosq, o->host, o->port, 30);
    if (rc != MOSQ_ERR_SUCCESS || mosquitto_loop_start(m->mosq) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "cannot connect to %s:%d: %s\n", o->host, o->port, mosquitto_strerror(rc));
        return false;
    }
    if (!wait_until(&m->connected, 10000)) {
        fprintf(stderr, "no connection to MQTT broker %s:%d within 10 s\n", o->host, o->port);
        return false;
    }
    return publish_status(m, o, status_topic, true);
}

/* Waits for every PUBACK (QoS 1), then says goodbye with a retained "offline". */
static bool mqtt_stop(emu_mqtt_t *m, const emu_options_t *o, const char *status_topic)
{
    bool ok = m->mosq != NULL && atomic_load(&m->connected) &&
              publish_status(m, o, status_topic, false);
    for (long waited = 0; atomic_load(&m->acked) < m->sent && waited < 15000; waited += 20) {
        sleep_ms(20);
    }
    ok = ok && atomic_load(&m->acked) >= m->sent;
    if (m->mosq != NULL) {
        mosquitto_disconnect(m->mosq);
        mosquitto_loop_stop(m->mosq, false);
        mosquitto_destroy(m->mosq);
    }
    mosquitto_lib_cleanup();
    return ok;
}

/* ---- inputs ------------------------------------------------------------------- */

static uint32_t be(const uint8_t *p, size_t n)
{
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static void put_be(uint8_t *p, size_t n, uint32_t v)
{
    for (size_t i = n; i-- > 0;) {
        p[i] = (uint8_t)(v & 0xFFu);
        v >>= 8;
    }
}

/* Round r of a repeated input: sequence + r, within the format's valid range
 * (an unavailable sequence stays unavailable). */
static void advance_sequence(uint8_t *payload, size_t len, long round)
{
    size_t off = 0;
    size_t width = 0;
    uint32_t modulo = 0;
    bool has_na = true;
    switch (payload[0]) {
    case RUUVI_FORMAT_5: off = 16; width = 2; modulo = 0xFFFFu; break;
    case RUUVI_FORMAT_6: off = 15; width = 1; modulo = 0x100u; has_na = false; break;
    case RUUVI_FORMAT_E1: off = 25; width = 3; modulo = 0xFFFFFFu; break;
    default: return;
    }
    if (off + width > len) {
        return;
    }
    uint32_t seq = be(payload + off, width);
    if (has_na && seq == modulo) {
        return;
    }
    put_be(payload + off, width, (uint32_t)(((uint64_t)seq + (uint64_t)round) % modulo));
}

/* Tag address: the line's, else the payload's own 6-byte MAC, else the default. */
static void pick_tag_mac(const emu_input_t *in, const uint8_t *payload, size_t len,
                         const emu_options_t *o, uint8_t mac[6])
{
    ruuvi_reading_t r;
    if (in->has_mac) {
        memcpy(mac, in->tag_mac, 6);
    } else if (ruuvi_decode_payload(payload, len, true, &r) == RUUVI_OK && r.mac_len == 6) {
        memcpy(mac, r.mac, 6);
    } else {
        memcpy(mac, o->default_tag_mac, 6);
    }
}

static gw_result_t feed(gw_core_t *core, const emu_input_t *in, long round, const emu_options_t *o)
{
    uint8_t adv[EMU_MAX_ADV];
    memcpy(adv, in->adv, in->adv_len);
    const uint8_t *payload = NULL;
    size_t len = 0;
    uint8_t mac[6];
    memcpy(mac, o->default_tag_mac, 6);
    if (ruuvi_find_manufacturer_payload(adv, in->adv_len, &payload, &len) == RUUVI_OK && len > 0) {
        uint8_t *p = adv + (payload - adv); /* same bytes, writable */
        if (round > 0) {
            advance_sequence(p, len, round);
        }
        pick_tag_mac(in, p, len, o, mac);
    }
    return gw_core_on_advertisement(core, mac, in->has_rssi ? in->rssi : o->rssi, adv, in->adv_len,
                                    now_ms(CLOCK_MONOTONIC), now_ms(CLOCK_REALTIME));
}

/* ---- options ------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fputs("usage: ruuvi-gateway-emulator (--input FILE|- | --vectors FILE) [--stdout]\n"
          "  [--host 127.0.0.1] [--port 1883] [--topic ruuvitag/data] [--gateway-id esp32-emulator]\n"
          "  [--gateway-mac 02:00:00:00:00:01] [--default-mac C0:FF:EE:00:00:01] [--rssi -67]\n"
          "  [--rate MSG_PER_S (0 = no pacing)] [--count N (0 = each input once) | --forever]\n"
          "  [--interval-ms PER_TAG_MIN_INTERVAL] [--username U [--password P]]\n"
          "  [--cafile CA.pem (TLS; the password may come from MQTT_PASSWORD)]\n"
          "  [--all-formats (publish Formats 3/6/E1 too; default Format 5 only)]\n"
          "Input lines: \"HEX\", \"MAC HEX\" or \"MAC RSSI HEX\" (advertisement or bare payload).\n",
          f);
}

static bool parse_args(int argc, char **argv, emu_options_t *o)
{
    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},        {"port", required_argument, NULL, 'p'},
        {"topic", required_argument, NULL, 't'},       {"gateway-id", required_argument, NULL, 'g'},
        {"gateway-mac", required_argument, NULL, 'm'}, {"default-mac", required_argument, NULL, 'd'},
        {"rssi", required_argument, NULL, 'r'},        {"rate", required_argument, NULL, 'R'},
        {"count", required_argument, NULL, 'c'},       {"interval-ms", required_argument, NULL, 'i'},
        {"input", required_argument, NULL, 'I'},       {"vectors", required_argument, NULL, 'V'},
        {"username", required_argument, NULL, 'u'},    {"password", required_argument, NULL, 'P'},
        {"stdout", no_argument, NULL, 's'},            {"help", no_argument, NULL, 'h'},
        {"forever", no_argument, NULL, 'F'},         {"all-formats", no_argument, NULL, 'A'},
        {"cafile", required_argument, NULL, 'C'},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'H': o->host = optarg; break;
        case 'p': o->port = atoi(optarg); break;
        case 't': o->topic = optarg; break;
        case 'g': o->gateway_id = optarg; break;
        case 'm': if (!gw_parse_mac(optarg, o->gateway_mac)) return false; break;
        case 'd': if (!gw_parse_mac(optarg, o->default_tag_mac)) return false; break;
        case 'r': o->rssi = atoi(optarg); break;
        case 'R': o->rate = atof(optarg); break;
        case 'c': o->count = atol(optarg); break;
        case 'i': o->interval_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'I': o->input = optarg; break;
        case 'V': o->vectors = optarg; break;
        case 'u': o->username = optarg; break;
        case 'P': o->password = optarg; break;
        case 'C': o->cafile = optarg; break;
        case 's': o->to_stdout = true; break;
        case 'F': o->forever = true; break;
        case 'A': o->all_formats = true; break;
        case 'h': usage(stdout); exit(0);
        default: return false;
        }
    }
    bool one_source = (o->input != NULL) != (o->vectors != NULL);
    return one_source && optind == argc && o->port > 0 && o->port < 65536 && o->count >= 0 &&
           o->rate >= 0.0 && strlen(o->gateway_id) > 0 &&
           strlen(o->gateway_id) <= RUUVI_JSON_MAX_GATEWAY_ID;
}

static void print_stats(const gw_core_t *core, long acked)
{
    const gw_stats_t *s = &core->stats;
    fprintf(stderr,
            "{\"received\": %u, \"published\": %u, \"acked\": %ld, \"duplicates\": %u, "
            "\"rate_limited\": %u, \"not_ruuvi\": %u, \"rejected\": %u, \"other_format\": %u, \"buffered\": %u, "
            "\"still_buffered\": %zu, \"overwritten\": %u}\n",
            s->received, s->published, acked, s->duplicates, s->rate_limited, s->not_ruuvi,
            s->rejected, s->other_format, s->buffered, gw_ring_count(&core->ring), core->ring.overwritten);
}

static void run(gw_core_t *core, emu_mqtt_t *m, const emu_inputs_t *inputs, const emu_options_t *o)
{
    long total = o->forever ? LONG_MAX : (o->count > 0 ? o->count : (long)inputs->count);
    long pause_ms = o->rate > 0.0 ? (long)(1000.0 / o->rate) : 0;
    for (long i = 0; i < total && !s_stop; i++) {
        if (m != NULL && atomic_load(&m->connected) != core->online) {
            gw_core_set_online(core, atomic_load(&m->connected)); /* drains on reconnect */
        }
        (void)feed(core, &inputs->items[(size_t)i % inputs->count], i / (long)inputs->count, o);
        if (pause_ms > 0) {
            sleep_ms(pause_ms);
        }
    }
    if (m != NULL) {
        gw_core_set_online(core, atomic_load(&m->connected));
    }
}

int main(int argc, char **argv)
{
    emu_options_t o = {.host = "127.0.0.1", .port = 1883, .topic = "ruuvitag/data",
                       .gateway_id = "esp32-emulator", .rssi = -67};
    gw_parse_mac("02:00:00:00:00:01", o.gateway_mac);
    gw_parse_mac("C0:FF:EE:00:00:01", o.default_tag_mac);
    if (!parse_args(argc, argv, &o)) {
        usage(stderr);
        return 2;
    }
    emu_inputs_t inputs = {0};
    bool loaded = o.input != NULL ? emu_read_lines(o.input, &inputs) : emu_read_vectors(o.vectors, &inputs);
    if (!loaded || inputs.count == 0) {
        emu_inputs_free(&inputs);
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    static gw_tag_t tags[TAG_SLOTS];
    static gw_observation_t ring[RING_SLOTS];
    static gw_core_t core;
    static emu_mqtt_t mqtt;
    gw_config_t cfg = {.gateway_id = o.gateway_id, .topic = o.topic,
                       .min_interval_ms = o.interval_ms, .allow_e1 = true,
                       .all_formats = o.all_formats};
    memcpy(cfg.gateway_mac, o.gateway_mac, 6);
    char status_topic[160];
    snprintf(status_topic, sizeof(status_topic), "ruuvitag/status/%s", o.gateway_id);
    ruuvi_json_use_static_arena();
    bool ok = gw_core_init(&core, &cfg, tags, TAG_SLOTS, ring, RING_SLOTS,
                           o.to_stdout ? publish_stdout : publish_mqtt, &mqtt);
    if (ok && o.to_stdout) {
        gw_core_set_online(&core, true);
        run(&core, NULL, &inputs, &o);
    } else if (ok) {
        ok = mqtt_start(&mqtt, &o, status_topic);
        if (ok) {
            run(&core, &mqtt, &inputs, &o);
        }
        ok = mqtt_stop(&mqtt, &o, status_topic) && ok;
    }
    print_stats(&core, atomic_load(&mqtt.acked));
    emu_inputs_free(&inputs);
    return ok && gw_ring_count(&core.ring) == 0 ? 0 : 1;
}
