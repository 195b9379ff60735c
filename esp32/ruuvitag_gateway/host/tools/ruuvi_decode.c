/*
 * ruuvi-decode: the firmware's decoder on the command line.
 *
 *   ruuvi-decode [decode] HEX [HEX ...]     payloads or whole advertisements
 *   ruuvi-decode [decode] -                 one per line on stdin
 *
 * Same interface as `python -m iot_pipeline.ruuvi decode`: one JSON object per
 * input and line, {"input": ..., "error": ...} for an input it rejects, exit
 * status 1 at the end if any input failed (2 for usage errors).
 * With --message it prints instead what the firmware would publish to MQTT
 * for each input (gateway fields from --gateway-id/--gateway-mac/--mac/--rssi/
 * --timestamp-ms, default now).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_util.h"
#include "ruuvi_codec.h"
#include "ruuvi_json.h"

typedef struct {
    bool message;
    ruuvi_message_t msg;   /* gateway-side fields for --message */
    uint8_t gw_mac[6];
    uint8_t tag_mac[6];
    bool tag_mac_given;
} options_t;

static void usage(FILE *f)
{
    fputs("usage: ruuvi-decode [decode] [--message [--gateway-id ID] [--gateway-mac MAC]\n"
          "                    [--mac TAGMAC] [--rssi DBM] [--timestamp-ms MS]] (HEX ... | -)\n",
          f);
}

static int print_error(const char *input, const char *error)
{
    size_t size = 6u * strlen(input) + 128u; /* worst case: every byte escaped as \u00XX */
    char *out = malloc(size);
    if (out != NULL && ruuvi_json_error(input, error, out, size) >= 0) {
        puts(out);
    } else {
        puts("{\"input\": null, \"error\": \"out of memory\"}");
    }
    free(out);
    return 1;
}

/* The firmware message, with the tag MAC from --mac or else the payload's own. */
static int print_message(const options_t *opt, const ruuvi_reading_t *r, const uint8_t *payload,
                         size_t payload_len, const char *input)
{
    ruuvi_message_t m = opt->msg;
    uint8_t tag[6];
    if (opt->tag_mac_given) {
        memcpy(tag, opt->tag_mac, 6);
    } else if (r->mac_len == 6) {
        memcpy(tag, r->mac, 6);
    } else {
        return print_error(input, "tag MAC unknown: payload carries none, pass --mac");
    }
    m.tag_mac = tag;
    m.payload = payload;
    m.payload_len = payload_len;
    m.reading = r;
    char out[RUUVI_JSON_MESSAGE_MAX];
    if (ruuvi_json_message(&m, out, sizeof(out)) < 0) {
        return print_error(input, "cannot build message (check --gateway-id and --timestamp-ms)");
    }
    puts(out);
    return 0;
}

static int decode_one(const options_t *opt, const char *input)
{
    /* Room for the largest BLE 5 extended advertising data (1650 bytes). */
    static uint8_t bytes[4096];
    int n = gw_hex_decode(input, bytes, sizeof(bytes));
    if (n < 0) {
        return print_error(input, "invalid hex: an even number of 0-9/a-f/A-F digits expected (at most 4096 bytes)");
    }
    ruuvi_reading_t r;
    const uint8_t *payload = NULL;
    size_t payload_len = 0;
    ruuvi_status_t st = ruuvi_decode_any(bytes, (size_t)n, true, &r, &payload, &payload_len);
    if (st != RUUVI_OK) {
        return print_error(input, ruuvi_status_message(st));
    }
    if (opt->message) {
        return print_message(opt, &r, payload, payload_len, input);
    }
    char out[RUUVI_JSON_MESSAGE_MAX];
    if (ruuvi_json_decoded(&r, out, sizeof(out)) < 0) {
        return print_error(input, "cannot print decoded reading");
    }
    puts(out);
    return 0;
}

static int decode_stdin(const options_t *opt)
{
    int failed = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
            line[--len] = '\0';
        }
        if (strspn(line, " \t") == (size_t)len) {
            continue; /* blank line */
        }
        failed |= decode_one(opt, line);
        fflush(stdout);
    }
    free(line);
    return failed;
}

/* Parses one option with a value; returns argument count consumed, 0 if not ours, -1 on error. */
static int parse_option(options_t *opt, int argc, char **argv, int i)
{
    const char *name = argv[i];
    if (strcmp(name, "--message") == 0) {
        opt->message = true;
        return 1;
    }
    const char *const with_value[] = {"--gateway-id", "--gateway-mac", "--mac", "--rssi", "--timestamp-ms"};
    size_t k = 0;
    while (k < 5 && strcmp(name, with_value[k]) != 0) {
        k++;
    }
    if (k == 5) {
        return 0;
    }
    if (i + 1 >= argc) {
        return -1;
    }
    const char *v = argv[i + 1];
    char *end = NULL;
    switch (k) {
    case 0: opt->msg.gateway_id = v; break;
    case 1: if (!gw_parse_mac(v, opt->gw_mac)) return -1; break;
    case 2: if (!gw_parse_mac(v, opt->tag_mac)) return -1; opt->tag_mac_given = true; break;
    case 3: opt->msg.rssi = (int)strtol(v, &end, 10); if (*end != '\0') return -1; break;
    default: opt->msg.timestamp_ms = strtoll(v, &end, 10); if (*end != '\0') return -1; break;
    }
    return 2;
}

int main(int argc, char **argv)
{
    options_t opt;
    memset(&opt, 0, sizeof(opt));
    opt.msg.gateway_id = "ruuvi-decode";
    opt.msg.gateway_mac = opt.gw_mac;
    opt.msg.rssi = 0;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now); /* --message stamps "now", like the gateway */
    opt.msg.timestamp_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    int i = 1;
    if (i < argc && strcmp(argv[i], "decode") == 0) {
        i++;
    }
    int first_input = -1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        int used = (first_input < 0) ? parse_option(&opt, argc, argv, i) : 0;
        if (used < 0) {
            fprintf(stderr, "ruuvi-decode: bad value for %s\n", argv[i]);
            return 2;
        }
        if (used > 0) {
            i += used - 1;
        } else if (first_input < 0) {
            first_input = i;
        }
    }
    if (first_input < 0) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[first_input], "-") == 0 && first_input == argc - 1) {
        return decode_stdin(&opt);
    }
    int failed = 0;
    for (i = first_input; i < argc; i++) {
        failed |= decode_one(&opt, argv[i]);
    }
    return failed;
}
