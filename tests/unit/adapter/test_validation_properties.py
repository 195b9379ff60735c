"""Property tests: whatever arrives, parse_message returns a result and never raises; valid
firmware messages built from any encodable reading round-trip exactly."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iot_pipeline.adapter.reasons import Rejection, RejectReason
from iot_pipeline.adapter.validation import (
    GatewayStatus,
    TagReading,
    TimestampSource,
    parse_message,
)
from iot_pipeline.ruuvi import RuuviReading, decode_hex, encode_hex

VECTORS_DIR = Path(__file__).parents[2] / "vectors"
FIRMWARE = json.loads((VECTORS_DIR / "esp32_gateway_message.json").read_text(encoding="utf-8"))
FW_PAYLOAD: dict[str, Any] = FIRMWARE["payload"]
RECEIVED = datetime(2026, 11, 23, 13, 37, 1, tzinfo=UTC)
GW_DATA = "0201061BFF99040517037758C5C703FCFF30FFF89416B7958AE375CF374E23"
GW_PAYLOAD = {
    "gw_mac": "C8:25:2D:8E:9C:2C",
    "rssi": -26,
    "aoa": [],
    "ts": 1795959419,
    "data": GW_DATA,
}

TOPICS = st.sampled_from(
    [
        "ruuvitag/data",
        "ruuvitag/status/esp32-gw-01",
        "ruuvi/C8:25:2D:8E:9C:2C/E3:75:CF:37:4E:23",
        "ruuvi/C8:25:2D:8E:9C:2C/gw_status",
        "ruuvi/x/y",
        "",
    ]
) | st.text(max_size=40)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def _check(result: object) -> None:
    assert isinstance(result, TagReading | GatewayStatus | Rejection), result
    if isinstance(result, Rejection):
        assert isinstance(result.reason, RejectReason)
        assert result.message
    if isinstance(result, TagReading):
        assert result.timestamp.tzinfo is not None
        assert RECEIVED - timedelta(days=7) <= result.timestamp <= RECEIVED + timedelta(minutes=5)
        assert result.tag_mac == result.tag_mac.upper()
        if result.raw is not None and result.source.value == "esp32_firmware":
            assert result.values == decode_hex(result.raw)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(TOPICS, st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(topic: str, payload: bytes) -> None:
    _check(parse_message(topic, payload, RECEIVED))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(TOPICS, json_values)
def test_arbitrary_json_never_raises(topic: str, value: Any) -> None:
    _check(parse_message(topic, json.dumps(value).encode(), RECEIVED))


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    payload = dict(base)
    keys = [*base, "data", "raw", "timestamp", "ts", "gwts", "mac", "state", "extra"]
    for _ in range(draw(st.integers(1, 4))):
        key = draw(st.sampled_from(keys))
        action = draw(st.sampled_from(["delete", "replace", "hexflip"]))
        if action == "delete":
            payload.pop(key, None)
        elif action == "hexflip" and isinstance(payload.get(key), str) and payload[key]:
            text = payload[key]
            i = draw(st.integers(0, len(text) - 1))
            payload[key] = text[:i] + draw(st.sampled_from("0123456789ABCDEFZ ")) + text[i + 1 :]
        else:
            payload[key] = draw(json_values)
    return payload


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(TOPICS, mutated(FW_PAYLOAD) | mutated(GW_PAYLOAD))
def test_mutated_valid_messages_never_raise(topic: str, payload: dict[str, Any]) -> None:
    _check(parse_message(topic, json.dumps(payload).encode(), RECEIVED))


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


readings = st.builds(
    RuuviReading,
    data_format=st.just(5),
    temperature=_optional(st.integers(-32767, 32767).map(lambda r: r * 5 / 1000)),
    humidity=_optional(st.integers(0, 65534).map(lambda r: r * 25 / 10000)),
    pressure=_optional(st.integers(50000, 115534)),
    acceleration_x=_optional(st.integers(-32767, 32767).map(lambda r: r / 1000)),
    acceleration_y=_optional(st.integers(-32767, 32767).map(lambda r: r / 1000)),
    acceleration_z=_optional(st.integers(-32767, 32767).map(lambda r: r / 1000)),
    tx_power=_optional(st.integers(0, 30).map(lambda r: -40 + 2 * r)),
    battery=_optional(st.integers(1600, 3646).map(lambda r: r / 1000)),
    movement_counter=_optional(st.integers(0, 254)),
    measurement_sequence=_optional(st.integers(0, 65534)),
    mac=st.just("CB:B8:33:4C:88:4F"),
)


@given(readings, st.integers(-127, 20), st.integers(0, 7 * 86400 - 1))
def test_firmware_messages_from_any_reading_round_trip(
    reading: RuuviReading, rssi: int, age_seconds: int
) -> None:
    timestamp = RECEIVED - timedelta(seconds=age_seconds)
    payload = {
        "gateway_id": "gw-1",
        "gateway_mac": "24:0A:C4:12:34:56",
        "mac": reading.mac,
        "rssi": rssi,
        "timestamp": timestamp.isoformat().replace("+00:00", "Z"),
        "raw": encode_hex(reading),
        **reading.to_dict(),
    }
    result = parse_message("ruuvitag/data", json.dumps(payload).encode(), RECEIVED)
    assert isinstance(result, TagReading), result
    assert result.values == reading
    assert result.rssi == rssi
    assert result.timestamp == timestamp
    assert result.timestamp_source is TimestampSource.PAYLOAD
