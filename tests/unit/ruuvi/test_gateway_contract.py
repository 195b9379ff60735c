"""The firmware message contract for formats 3, 6 and E1 (tests/vectors/esp32_gateway_message.json,
``payloads_by_format``; the firmware's C tests build the same bytes): its decoded fields are the
Python codec's decoding of ``raw``, in the firmware's order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iot_pipeline.ruuvi import decode_any_hex

VECTORS = Path(__file__).parents[2] / "vectors"
CONTRACT = json.loads((VECTORS / "esp32_gateway_message.json").read_text("utf-8"))
GATEWAY_KEYS = ["gateway_id", "gateway_mac", "mac", "rssi", "timestamp", "data_format", "raw"]
# Format 3 is printed in Format 5's message shape (the firmware's MSG_F5 order).
F5_MESSAGE_ORDER = list(CONTRACT["payload"])[len(GATEWAY_KEYS) :]


@pytest.mark.parametrize(("name", "number"), [("3", 3), ("6", 6), ("E1", 0xE1)])
def test_decoded_fields_are_the_codec_s_decoding_of_raw(name: str, number: int) -> None:
    message = CONTRACT["payloads_by_format"][name]
    assert list(message)[: len(GATEWAY_KEYS)] == GATEWAY_KEYS
    assert message["data_format"] == number
    decoded = decode_any_hex(message["raw"]).to_dict()
    fields = {k: v for k, v in message.items() if k not in GATEWAY_KEYS}
    for key, value in fields.items():
        assert decoded[key] == value, key
    if number == 3:
        assert list(fields) == F5_MESSAGE_ORDER
    else:
        # 6 and E1: the decode CLI's order without data_format and mac
        assert list(fields) == [k for k in decoded if k not in ("data_format", "mac")]
