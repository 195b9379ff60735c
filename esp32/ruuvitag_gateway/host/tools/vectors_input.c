#define _POSIX_C_SOURCE 200809L
#include "vectors_input.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cJSON.h"
#include "gw_util.h"
#include "ruuvi_codec.h"

size_t emu_wrap_payload(const uint8_t *payload, size_t len, uint8_t *adv, size_t adv_size)
{
    /* 02 01 06: LE General Discoverable, BR/EDR not supported (as RuuviTags send). */
    size_t total = 3u + 4u + len;
    if (len + 3u > 255u || total > adv_size) {
        return 0;
    }
    const uint8_t head[7] = {0x02, 0x01, 0x06, (uint8_t)(len + 3u), 0xFF, 0x99, 0x04};
    memcpy(adv, head, sizeof(head));
    memcpy(adv + sizeof(head), payload, len);
    return total;
}

static bool push(emu_inputs_t *in, const emu_input_t *item)
{
    if (in->count == in->capacity) {
        size_t cap = in->capacity == 0 ? 16u : 2u * in->capacity;
        emu_input_t *grown = realloc(in->items, cap * sizeof(*grown));
        if (grown == NULL) {
            return false;
        }
        in->items = grown;
        in->capacity = cap;
    }
    in->items[in->count++] = *item;
    return true;
}

/* Bare payload (its length matches its format byte) or advertisement bytes. */
static bool set_adv(emu_input_t *item, const char *hex)
{
    uint8_t bytes[EMU_MAX_ADV];
    int n = gw_hex_decode(hex, bytes, sizeof(bytes));
    if (n <= 0) {
        return false;
    }
    if (ruuvi_format_length(bytes[0]) == (size_t)n) {
        item->adv_len = emu_wrap_payload(bytes, (size_t)n, item->adv, sizeof(item->adv));
        return item->adv_len > 0;
    }
    memcpy(item->adv, bytes, (size_t)n);
    item->adv_len = (size_t)n;
    return true;
}

static bool parse_line(char *line, emu_input_t *item)
{
    char *fields[3];
    int nf = 0;
    char *save = NULL;
    for (char *tok = strtok_r(line, " \t,", &save); tok != NULL; tok = strtok_r(NULL, " \t,", &save)) {
        if (nf == 3) {
            return false;
        }
        fields[nf++] = tok;
    }
    memset(item, 0, sizeof(*item));
    if (nf >= 2) {
        if (!gw_parse_mac(fields[0], item->tag_mac)) {
            return false;
        }
        item->has_mac = true;
    }
    if (nf == 3) {
        char *end = NULL;
        long rssi = strtol(fields[1], &end, 10);
        if (*end != '\0' || rssi < -127 || rssi > 20) {
            return false;
        }
        item->rssi = (int)rssi;
        item->has_rssi = true;
    }
    return nf >= 1 && set_adv(item, fields[nf - 1]);
}

bool emu_read_lines(const char *path, emu_inputs_t *out)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return false;
    }
    char *line = NULL;
    size_t cap = 0;
    size_t lineno = 0;
    bool ok = true;
    while (ok && getline(&line, &cap, f) >= 0) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash != NULL) {
            *hash = '\0';
        }
        line[strcspn(line, "\r\n")] = '\0';
        if (strspn(line, " \t") == strlen(line)) {
            continue;
        }
        emu_input_t item;
        if (!parse_line(line, &item)) {
            fprintf(stderr, "%s:%zu: expected \"[MAC [RSSI]] HEX\"\n", path, lineno);
            ok = false;
        } else {
            ok = push(out, &item);
        }
    }
    free(line);
    if (f != stdin) {
        fclose(f);
    }
    return ok;
}

static cJSON *load(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return NULL;
    }
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    cJSON *doc = cJSON_Parse(buf);
    if (doc == NULL) {
        fprintf(stderr, "%s: not JSON\n", path);
    }
    return doc;
}

static bool push_hex(emu_inputs_t *out, const cJSON *hex)
{
    emu_input_t item;
    memset(&item, 0, sizeof(item));
    return cJSON_IsString(hex) && set_adv(&item, hex->valuestring) && push(out, &item);
}

bool emu_read_vectors(const char *path, emu_inputs_t *out)
{
    cJSON *doc = load(path);
    if (doc == NULL) {
        return false;
    }
    bool ok = true;
    const cJSON *v = NULL;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(doc, "format5_payloads"))
    {
        ok = ok && push_hex(out, cJSON_GetObjectItemCaseSensitive(v, "hex"));
    }
    const cJSON *gw = cJSON_GetObjectItemCaseSensitive(doc, "ruuvi_gateway_advertisement");
    if (gw != NULL) {
        ok = ok && push_hex(out, cJSON_GetObjectItemCaseSensitive(gw, "data"));
    }
    /* ruuvi_other_formats.json: Formats 3, 6 and E1 payloads, then whole advertisements. */
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(doc, "vectors"))
    {
        ok = ok && push_hex(out, cJSON_GetObjectItemCaseSensitive(v, "hex"));
    }
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(doc, "advertisements"))
    {
        ok = ok && push_hex(out, cJSON_GetObjectItemCaseSensitive(v, "data"));
    }
    cJSON_Delete(doc);
    if (!ok || out->count == 0) {
        fprintf(stderr, "%s: no usable vectors\n", path);
        return false;
    }
    return true;
}

void emu_inputs_free(emu_inputs_t *in)
{
    free(in->items);
    in->items = NULL;
    in->count = in->capacity = 0;
}
