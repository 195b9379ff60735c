"""The official Ruuvi Gateway messages the adapter benches publish (peers, hot path).

A module of its own, importing only the Ruuvi encoder, so that the hot-path bench can measure an
older checkout's adapter (``BENCH_HOTPATH_BASELINE``) without importing this checkout's sink.
"""

from __future__ import annotations

import json

from iot_pipeline.ruuvi import RuuviReading, encode_hex

GATEWAY = "24:0A:C4:12:34:56"
TAG = "BE:AC:00:00:00:19"
# A Format 5 payload inside a BLE advertisement: flags, then manufacturer data (Ruuvi, 0x0499).
_AD_PREFIX = "0201061BFF9904"


def gateway_message(sequence: int, now: int) -> str:
    """One official Ruuvi Gateway message (firmware >= 1.15: integer timestamps)."""
    reading = RuuviReading(
        5, 20.0 + sequence % 100 / 10, 45.5, 100500, 0.012, -0.004, 1.001, 4, 2.95,
        sequence % 255, sequence % 65535, TAG,
    )  # fmt: skip
    body = {
        "gw_mac": GATEWAY,
        "rssi": -60,
        "aoa": [],
        "gwts": now,
        "ts": now,
        "data": _AD_PREFIX + encode_hex(reading),
        "coords": "",
    }
    return json.dumps(body, separators=(",", ":"))
