/* Emulator input: advertisements from a file of hex lines or from the shared
 * vector files. Host-only helper (uses the heap and stdio). */
#ifndef VECTORS_INPUT_H
#define VECTORS_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EMU_MAX_ADV 255u

typedef struct {
    uint8_t tag_mac[6];
    bool has_mac;            /* from the line; else the payload's own MAC is used */
    int rssi;
    bool has_rssi;
    uint8_t adv[EMU_MAX_ADV];
    size_t adv_len;
} emu_input_t;

typedef struct {
    emu_input_t *items;
    size_t count;
    size_t capacity;
} emu_inputs_t;

/*
 * Lines: "HEX", "MAC HEX" or "MAC RSSI HEX"; HEX is a whole advertisement
 * (AD structures), or a bare Ruuvi payload which is wrapped into one as a tag
 * would send it. Blank lines and '#' comments are skipped. Errors name the line.
 */
bool emu_read_lines(const char *path, emu_inputs_t *out);

/* Every format5_payloads entry (wrapped) and the ruuvi_gateway_advertisement
 * (ruuvi_format5.json); every "vectors" entry (wrapped) and "advertisements"
 * entry (ruuvi_other_formats.json: Formats 3, 6 and E1). */
bool emu_read_vectors(const char *path, emu_inputs_t *out);

void emu_inputs_free(emu_inputs_t *in);

/* Wraps a bare payload as flags AD + manufacturer AD; returns the length or 0. */
size_t emu_wrap_payload(const uint8_t *payload, size_t len, uint8_t *adv, size_t adv_size);

#endif
