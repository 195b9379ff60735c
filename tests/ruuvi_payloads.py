"""Seeded random Ruuvi payloads of every data format, for the decoder agreement tests.

Bytes are random, then each field is, with some probability, set to one of its interesting raw
values: the "not available" sentinel, the values next to it and both ends of the range, so that
every sentinel and boundary is well represented among a few thousand payloads.
"""

from __future__ import annotations

import random
from typing import Final

# (offset, width, interesting raw values) per field, per data format.
FIELDS: Final[dict[int, list[tuple[int, int, list[int]]]]] = {
    3: [
        (1, 1, [0x00, 0xC8, 0xFF]),  # humidity (0.5 %)
        (2, 1, [0x00, 0x80, 0x7F, 0xFF, 0x81]),  # temperature sign + magnitude
        (3, 1, [0x00, 0x63, 0x64, 0xFF]),  # hundredths (spec 0..99)
        (4, 2, [0x0000, 0xFFFF]),  # pressure
        (6, 2, [0x8000, 0x7FFF, 0xFFFF, 0x0000]),  # acceleration x
        (8, 2, [0x8000, 0x8001, 0x0001]),  # acceleration y
        (10, 2, [0x8000, 0x7FFF]),  # acceleration z
        (12, 2, [0x0000, 0xFFFF, 0x0B53]),  # battery mV
    ],
    5: [
        (1, 2, [0x8000, 0x8001, 0x7FFF, 0x0000, 0xFFFF]),  # temperature (i16)
        (3, 2, [0xFFFF, 0xFFFE, 0x0000, 40000]),  # humidity
        (5, 2, [0xFFFF, 0xFFFE, 0x0000]),  # pressure
        (7, 2, [0x8000, 0x8001, 0x7FFF, 0x0000]),  # acceleration x
        (9, 2, [0x8000, 0x8001, 0x7FFF, 0xFFFF]),  # acceleration y
        (11, 2, [0x8000, 0x8001, 0x7FFF, 0x0001]),  # acceleration z
        (13, 2, [0xFFFF, 0xFFE0, 0x001F, 0x0000, 0xFFDE, 0xFFDF]),  # power info (11+5 bits)
        (15, 1, [0xFF, 0xFE, 0x00]),  # movement counter
        (16, 2, [0xFFFF, 0xFFFE, 0x0000]),  # measurement sequence
        (18, 6, [0xFFFFFFFFFFFF, 0x000000000000, 0xFFFFFFFFFFFE]),  # mac
    ],
    6: [
        (1, 2, [0x8000, 0x8001, 0x7FFF, 0x0000]),  # temperature
        (3, 2, [0xFFFF, 0xFFFE, 0x0000, 40000]),  # humidity
        (5, 2, [0xFFFF, 0xFFFE, 0x0000]),  # pressure
        (7, 2, [0xFFFF, 0xFFFE, 0x0000, 10000]),  # pm2.5
        (9, 2, [0xFFFF, 0xFFFE, 0x0000, 40000]),  # co2
        (11, 1, [0xFF, 0xFE, 0x00, 0xFA]),  # voc bits 8..1
        (12, 1, [0xFF, 0xFE, 0x00, 0xFA]),  # nox bits 8..1
        (13, 1, [0xFF, 0xFE, 0x00, 0x01]),  # luminosity code
        (15, 1, [0xFF, 0x00]),  # sequence (no sentinel)
        (16, 1, [0xFF, 0x00, 0xC0, 0x3F, 0x01]),  # flags
        (17, 3, [0xFFFFFF, 0x000000, 0xFFFFFE]),  # mac low 3 bytes
    ],
    0xE1: [
        (1, 2, [0x8000, 0x8001, 0x7FFF, 0x0000]),  # temperature
        (3, 2, [0xFFFF, 0xFFFE, 0x0000, 40000]),  # humidity
        (5, 2, [0xFFFF, 0xFFFE, 0x0000]),  # pressure
        (7, 2, [0xFFFF, 0xFFFE, 0x0000]),  # pm1.0
        (9, 2, [0xFFFF, 0xFFFE, 0x0000, 10000]),  # pm2.5
        (11, 2, [0xFFFF, 0x0000]),  # pm4.0
        (13, 2, [0xFFFF, 0x0000]),  # pm10
        (15, 2, [0xFFFF, 0xFFFE, 0x0000, 40000]),  # co2
        (17, 1, [0xFF, 0xFE, 0x00, 0xFA]),  # voc bits 8..1
        (18, 1, [0xFF, 0xFE, 0x00, 0xFA]),  # nox bits 8..1
        (19, 3, [0xFFFFFF, 0xFFFFFE, 0x000000, 14428400]),  # luminosity
        (25, 3, [0xFFFFFF, 0xFFFFFE, 0x000000]),  # sequence
        (28, 1, [0xFF, 0x00, 0xC0, 0x3F, 0x01, 0xFE]),  # flags
        (34, 6, [0xFFFFFFFFFFFF, 0x000000000000, 0xFFFFFFFFFFFE]),  # mac
    ],
}
LENGTHS: Final = {3: 14, 5: 24, 6: 20, 0xE1: 40}


def random_payload(data_format: int, rng: random.Random) -> bytes:
    payload = bytearray(rng.randbytes(LENGTHS[data_format]))
    payload[0] = data_format
    for offset, width, specials in FIELDS[data_format]:
        if rng.random() < 0.3:
            payload[offset : offset + width] = rng.choice(specials).to_bytes(width, "big")
    return bytes(payload)


def wrap(payload: bytes, rng: random.Random) -> bytes:
    """An advertisement carrying the payload, sometimes after other AD structures."""
    manufacturer = bytes([len(payload) + 3, 0xFF, 0x99, 0x04]) + payload
    before = [b"\x02\x01\x06", b"\x05\xff\x4c\x00\x02\x15", b"\x04\x09Ruu", b"\x03\x03\xaa\xfe"]
    prefix = b"".join(rng.sample(before, rng.randint(0, len(before))))
    padding = b"\x00" * rng.randint(0, 3)  # a zero length byte ends the significant part
    return prefix + manufacturer + padding
