"""Parsing and validating MQTT messages: both payload families, status messages, every reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from iot_pipeline.adapter.reasons import Rejection, RejectReason
from iot_pipeline.adapter.validation import (
    GatewayStatus,
    SourceFormat,
    TagReading,
    TimestampSource,
    ValidationLimits,
    parse_message,
    parse_timestamp,
)
from iot_pipeline.ruuvi import decode_any_hex, decode_hex

VECTORS_DIR = Path(__file__).parents[2] / "vectors"
FIRMWARE = json.loads((VECTORS_DIR / "esp32_gateway_message.json").read_text(encoding="utf-8"))
RUUVI = json.loads((VECTORS_DIR / "ruuvi_format5.json").read_text(encoding="utf-8"))
PAYLOADS = {v["name"]: v for v in RUUVI["format5_payloads"]}
GW_DATA = RUUVI["ruuvi_gateway_advertisement"]["data"]

FW_TOPIC = FIRMWARE["topic"]
FW_PAYLOAD: dict[str, Any] = FIRMWARE["payload"]
RECEIVED = datetime(2026, 11, 23, 13, 37, 1, tzinfo=UTC)
GW_MAC = "C8:25:2D:8E:9C:2C"
TAG_MAC = "E3:75:CF:37:4E:23"
GW_TOPIC = f"ruuvi/{GW_MAC}/{TAG_MAC}"
EPOCH = int(RECEIVED.timestamp()) - 2
GW_PAYLOAD: dict[str, Any] = {
    "gw_mac": GW_MAC,
    "rssi": -26,
    "aoa": [],
    "gwts": str(EPOCH + 1),
    "ts": str(EPOCH),
    "data": GW_DATA,
    "coords": "",
}


def _parse(topic: str, payload: dict[str, Any] | bytes, **limits: Any) -> Any:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return parse_message(topic, raw, RECEIVED, ValidationLimits(**limits))


def _fw(**changes: Any) -> dict[str, Any]:
    payload = dict(FW_PAYLOAD)
    for key, value in changes.items():
        if value is _DELETE:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload


def _gw(**changes: Any) -> dict[str, Any]:
    payload = dict(GW_PAYLOAD)
    for key, value in changes.items():
        if value is _DELETE:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload


_DELETE = object()


def _reason(result: object) -> RejectReason:
    assert isinstance(result, Rejection), result
    assert result.message
    return result.reason


# --- the firmware's messages -------------------------------------------------------------------


def test_firmware_vector_is_a_valid_reading() -> None:
    result = _parse(FW_TOPIC, FW_PAYLOAD)
    assert isinstance(result, TagReading)
    assert result.source is SourceFormat.ESP32_FIRMWARE
    assert result.tag_mac == "CB:B8:33:4C:88:4F"
    assert result.gateway_id == "esp32-gw-01"
    assert result.gateway_mac == "24:0A:C4:12:34:56"
    assert result.rssi == -67
    assert result.timestamp == datetime(2026, 11, 23, 13, 37, 0, 123000, tzinfo=UTC)
    assert result.timestamp_source is TimestampSource.PAYLOAD
    assert result.values == decode_hex(FW_PAYLOAD["raw"])
    assert result.raw == FW_PAYLOAD["raw"]


def test_firmware_decoded_fields_equal_the_official_valid_vector() -> None:
    expected = PAYLOADS["valid"]["expected"]
    for key, value in expected.items():
        assert FW_PAYLOAD[key] == value


def test_firmware_message_without_timestamp_gets_the_receive_time() -> None:
    result = _parse(FW_TOPIC, _fw(timestamp=_DELETE))
    assert isinstance(result, TagReading)
    assert result.timestamp == RECEIVED
    assert result.timestamp_source is TimestampSource.RECEIVE_TIME


def test_firmware_null_timestamp_gets_the_receive_time() -> None:
    result = _parse(FW_TOPIC, _fw(timestamp=None))
    assert isinstance(result, TagReading)
    assert result.timestamp_source is TimestampSource.RECEIVE_TIME


@pytest.mark.parametrize(
    "name", ["valid", "maximum", "minimum", "invalid"], ids=lambda n: f"vector-{n}"
)
def test_firmware_message_built_from_each_official_vector(name: str) -> None:
    vector = PAYLOADS[name]
    payload = _fw(raw=vector["hex"], **vector["expected"])
    payload["mac"] = vector["expected"]["mac"] or "CB:B8:33:4C:88:4F"
    result = _parse(FW_TOPIC, payload)
    assert isinstance(result, TagReading)
    assert result.values == decode_hex(vector["hex"])
    assert result.tag_mac == "CB:B8:33:4C:88:4F"


def test_firmware_integral_json_numbers_equal_floats() -> None:
    # C's "%.15g" prints 0.0 as 0: still equal to the decoded 0.0
    vector = PAYLOADS["minimum"]
    payload = _fw(raw=vector["hex"], **{**vector["expected"], "humidity": 0, "battery": 1.6})
    assert isinstance(_parse(FW_TOPIC, payload), TagReading)


def test_firmware_message_with_only_raw_is_valid() -> None:
    payload = {k: FW_PAYLOAD[k] for k in ("gateway_id", "mac", "raw")}
    result = _parse(FW_TOPIC, payload)
    assert isinstance(result, TagReading)
    assert result.values == decode_hex(FW_PAYLOAD["raw"])
    assert result.rssi is None
    assert result.gateway_mac is None


def test_firmware_message_without_raw_uses_its_decoded_fields() -> None:
    result = _parse(FW_TOPIC, _fw(raw=_DELETE))
    assert isinstance(result, TagReading)
    assert result.raw is None
    assert result.values == decode_hex(FW_PAYLOAD["raw"])


def test_firmware_message_with_some_fields_without_raw() -> None:
    result = _parse(FW_TOPIC, {"gateway_id": "gw", "mac": "cb:b8:33:4c:88:4f", "temperature": 21.5})
    assert isinstance(result, TagReading)
    assert result.values.temperature == 21.5
    assert result.values.humidity is None
    assert result.tag_mac == "CB:B8:33:4C:88:4F"


def test_mac_forms_are_normalised() -> None:
    result = _parse(FW_TOPIC, _fw(mac="cb-b8-33-4c-88-4f", gateway_mac="24-0a-c4-12-34-56"))
    assert isinstance(result, TagReading)
    assert result.tag_mac == "CB:B8:33:4C:88:4F"
    assert result.gateway_mac == "24:0A:C4:12:34:56"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"temperature": 24.305}, RejectReason.DECODE_MISMATCH),
        ({"temperature": 24.300000000000001}, None),  # the same double
        ({"humidity": None}, RejectReason.DECODE_MISMATCH),
        ({"pressure": 100045}, RejectReason.DECODE_MISMATCH),
        ({"acceleration_z": 1.0359999}, RejectReason.DECODE_MISMATCH),
        ({"tx_power": 6}, RejectReason.DECODE_MISMATCH),
        ({"battery": 2.978}, RejectReason.DECODE_MISMATCH),
        ({"movement_counter": 67}, RejectReason.DECODE_MISMATCH),
        ({"measurement_sequence": 206}, RejectReason.DECODE_MISMATCH),
        ({"mac": "CB:B8:33:4C:88:40"}, RejectReason.DECODE_MISMATCH),
        ({"data_format": 3}, RejectReason.DECODE_MISMATCH),
        ({"data_format": 225}, RejectReason.DECODE_MISMATCH),
        ({"data_format": 4}, RejectReason.UNKNOWN_FORMAT),
        ({"data_format": 4, "raw": _DELETE}, RejectReason.UNKNOWN_FORMAT),
        ({"data_format": 6, "raw": _DELETE}, RejectReason.SCHEMA),
        ({"data_format": "5"}, RejectReason.SCHEMA),
        ({"raw": "03" + FW_PAYLOAD["raw"][2:]}, RejectReason.BAD_RAW_DATA),
        ({"raw": "E1" + FW_PAYLOAD["raw"][2:]}, RejectReason.BAD_RAW_DATA),
        ({"raw": "04" + FW_PAYLOAD["raw"][2:]}, RejectReason.UNKNOWN_FORMAT),
        ({"raw": "zz"}, RejectReason.BAD_RAW_DATA),
        ({"raw": ""}, RejectReason.BAD_RAW_DATA),
        ({"raw": FW_PAYLOAD["raw"][:-2]}, RejectReason.BAD_RAW_DATA),
        ({"raw": FW_PAYLOAD["raw"] + "00"}, RejectReason.BAD_RAW_DATA),
        ({"raw": "05" * 300}, RejectReason.SCHEMA),
        ({"raw": 5}, RejectReason.SCHEMA),
        ({"gateway_id": _DELETE}, RejectReason.SCHEMA),
        ({"gateway_id": ""}, RejectReason.SCHEMA),
        ({"gateway_id": "gw 01"}, RejectReason.SCHEMA),
        ({"gateway_id": "g" * 65}, RejectReason.SCHEMA),
        ({"gateway_id": 7}, RejectReason.SCHEMA),
        ({"mac": _DELETE}, RejectReason.SCHEMA),
        ({"mac": None}, RejectReason.SCHEMA),
        ({"mac": "CB:B8:33:4C:88"}, RejectReason.BAD_MAC),
        ({"mac": "CB:B8:33:4C:88:4G"}, RejectReason.BAD_MAC),
        ({"mac": "CBB8334C884F"}, RejectReason.BAD_MAC),
        ({"gateway_mac": "nope"}, RejectReason.BAD_MAC),
        ({"gateway_mac": ""}, RejectReason.BAD_MAC),
        ({"rssi": 50}, RejectReason.OUT_OF_RANGE),
        ({"rssi": -128}, RejectReason.OUT_OF_RANGE),
        ({"rssi": -67.5}, RejectReason.SCHEMA),
        ({"rssi": "-67"}, RejectReason.SCHEMA),
        ({"rssi": True}, RejectReason.SCHEMA),
        ({"temperature": "24.3"}, RejectReason.SCHEMA),
        ({"pressure": 100044.5}, RejectReason.SCHEMA),
        ({"movement_counter": True}, RejectReason.SCHEMA),
        ({"timestamp": "yesterday"}, RejectReason.BAD_TIMESTAMP),
        ({"timestamp": "2026-11-23T13:37:00.123"}, RejectReason.BAD_TIMESTAMP),
        ({"timestamp": "2026-11-23T13:50:00Z"}, RejectReason.BAD_TIMESTAMP),
        ({"timestamp": "2026-11-01T13:37:00Z"}, RejectReason.BAD_TIMESTAMP),
        ({"timestamp": "1970-01-01T00:00:00Z"}, RejectReason.BAD_TIMESTAMP),
        ({"timestamp": 0}, RejectReason.BAD_TIMESTAMP),
        ({"timestamp": -5}, RejectReason.BAD_TIMESTAMP),
        ({"timestamp": 1e300}, RejectReason.BAD_TIMESTAMP),
        ({"timestamp": True}, RejectReason.SCHEMA),
        ({"timestamp": [1]}, RejectReason.SCHEMA),
    ],
)
def test_firmware_rejections(changes: dict[str, Any], reason: RejectReason | None) -> None:
    result = _parse(FW_TOPIC, _fw(**changes))
    if reason is None:
        assert isinstance(result, TagReading)
    else:
        assert _reason(result) is reason


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"temperature": 163.84}, RejectReason.OUT_OF_RANGE),
        ({"temperature": -200.0}, RejectReason.OUT_OF_RANGE),
        ({"humidity": -0.1}, RejectReason.OUT_OF_RANGE),
        ({"humidity": 170}, RejectReason.OUT_OF_RANGE),
        ({"pressure": 49999}, RejectReason.OUT_OF_RANGE),
        ({"pressure": 115535}, RejectReason.OUT_OF_RANGE),
        ({"acceleration_x": 33.0}, RejectReason.OUT_OF_RANGE),
        ({"acceleration_y": -32.768}, RejectReason.OUT_OF_RANGE),
        ({"battery": 1.5}, RejectReason.OUT_OF_RANGE),
        ({"battery": 3.7}, RejectReason.OUT_OF_RANGE),
        ({"tx_power": -41}, RejectReason.OUT_OF_RANGE),
        ({"tx_power": 21}, RejectReason.OUT_OF_RANGE),
        ({"movement_counter": 255}, RejectReason.OUT_OF_RANGE),
        ({"measurement_sequence": 65535}, RejectReason.OUT_OF_RANGE),
        ({"measurement_sequence": -1}, RejectReason.OUT_OF_RANGE),
        ({"temperature": 163.835, "humidity": 0.0, "battery": 3.646}, None),
    ],
)
def test_ranges_without_raw(changes: dict[str, Any], reason: RejectReason | None) -> None:
    result = _parse(FW_TOPIC, _fw(raw=_DELETE, **changes))
    if reason is None:
        assert isinstance(result, TagReading)
    else:
        assert _reason(result) is reason


def test_infinite_number_is_out_of_range() -> None:
    payload = json.dumps(_fw(raw=_DELETE)).replace('"temperature": 24.3', '"temperature": 1e400')
    assert _reason(_parse(FW_TOPIC, payload.encode())) is RejectReason.OUT_OF_RANGE


def test_message_without_raw_or_measurements_is_rejected() -> None:
    result = _parse(FW_TOPIC, {"gateway_id": "gw", "mac": "CB:B8:33:4C:88:4F"})
    assert _reason(result) is RejectReason.SCHEMA


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", RejectReason.NOT_JSON),
        (b"not json", RejectReason.NOT_JSON),
        (b"\xff\xfe{}", RejectReason.NOT_JSON),
        (b'{"temperature": NaN}', RejectReason.NOT_JSON),
        (b'{"temperature": Infinity}', RejectReason.NOT_JSON),
        (b'{"a": 1', RejectReason.NOT_JSON),
        (b"[" * 100_000 + b"]" * 100_000, RejectReason.OVERSIZE),
        (b"[]", RejectReason.SCHEMA),
        (b'"text"', RejectReason.SCHEMA),
        (b"42", RejectReason.SCHEMA),
        (b"null", RejectReason.SCHEMA),
        (b"{}", RejectReason.SCHEMA),
    ],
)
def test_payload_level_rejections(payload: bytes, reason: RejectReason) -> None:
    assert _reason(_parse(FW_TOPIC, payload)) is reason


def test_deep_nesting_within_the_size_limit_is_not_json() -> None:
    payload = b"[" * 50_000 + b"]" * 50_000
    result = _parse(FW_TOPIC, payload, max_payload_bytes=200_000)
    assert _reason(result) in (RejectReason.NOT_JSON, RejectReason.SCHEMA)


def test_oversize_limit_is_exact() -> None:
    payload = json.dumps(FW_PAYLOAD).encode()
    assert isinstance(_parse(FW_TOPIC, payload, max_payload_bytes=len(payload)), TagReading)
    result = _parse(FW_TOPIC, payload, max_payload_bytes=len(payload) - 1)
    assert _reason(result) is RejectReason.OVERSIZE


def test_unknown_extra_fields_are_ignored() -> None:
    assert isinstance(_parse(FW_TOPIC, _fw(firmware="1.2.3", extra={"x": 1})), TagReading)


def test_naive_received_at_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone"):
        parse_message(FW_TOPIC, b"{}", datetime(2026, 1, 1))


# --- timestamps -------------------------------------------------------------------------------

LIMITS = ValidationLimits()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-23T13:37:00.123Z", datetime(2026, 11, 23, 13, 37, 0, 123000, tzinfo=UTC)),
        ("2026-11-23T15:37:00+02:00", datetime(2026, 11, 23, 13, 37, tzinfo=UTC)),
        ("2026-11-23 13:37:00+00:00", datetime(2026, 11, 23, 13, 37, tzinfo=UTC)),
        (EPOCH, datetime.fromtimestamp(EPOCH, UTC)),
        (str(EPOCH), datetime.fromtimestamp(EPOCH, UTC)),
        (EPOCH * 1000 + 250, datetime.fromtimestamp(EPOCH + 0.25, UTC)),
        (str(EPOCH * 1000), datetime.fromtimestamp(EPOCH, UTC)),
        (EPOCH + 0.5, datetime.fromtimestamp(EPOCH + 0.5, UTC)),
    ],
)
def test_timestamp_forms(value: str | float, expected: datetime) -> None:
    parsed, source = parse_timestamp(value, RECEIVED, LIMITS)
    assert parsed == expected
    assert parsed.tzinfo is UTC
    assert source is TimestampSource.PAYLOAD


def test_timestamp_window_edges_are_inclusive() -> None:
    edge_future = RECEIVED + LIMITS.max_future
    edge_past = RECEIVED - LIMITS.max_past
    assert parse_timestamp(edge_future.isoformat(), RECEIVED, LIMITS)[0] == edge_future
    assert parse_timestamp(edge_past.isoformat(), RECEIVED, LIMITS)[0] == edge_past
    for beyond in (edge_future + timedelta(seconds=1), edge_past - timedelta(seconds=1)):
        result = parse_message(
            FW_TOPIC, json.dumps(_fw(timestamp=beyond.isoformat())).encode(), RECEIVED
        )
        assert _reason(result) is RejectReason.BAD_TIMESTAMP


def test_timestamp_limits_are_configurable() -> None:
    old = (RECEIVED - timedelta(days=30)).isoformat()
    result = _parse(FW_TOPIC, _fw(timestamp=old), max_past=timedelta(days=31))
    assert isinstance(result, TagReading)


# --- the official Ruuvi Gateway's messages -----------------------------------------------------


def test_ruuvi_gateway_message_is_a_valid_reading() -> None:
    result = _parse(GW_TOPIC, GW_PAYLOAD)
    assert isinstance(result, TagReading)
    assert result.source is SourceFormat.RUUVI_GATEWAY
    assert result.tag_mac == TAG_MAC
    assert result.gateway_id == GW_MAC
    assert result.gateway_mac == GW_MAC
    assert result.rssi == -26
    assert result.timestamp == datetime.fromtimestamp(EPOCH, UTC)
    assert result.timestamp_source is TimestampSource.PAYLOAD
    assert result.values == decode_any_hex(GW_DATA)
    expected = RUUVI["ruuvi_gateway_advertisement"]["expected"]
    assert {k: v for k, v in result.values.to_dict().items() if k != "data_format"} == expected
    assert result.raw == GW_DATA


@pytest.mark.parametrize(
    ("changes", "expected_ts", "source"),
    [
        ({"ts": EPOCH, "gwts": EPOCH + 1}, EPOCH, TimestampSource.PAYLOAD),  # v1.15+: integers
        ({"ts": _DELETE}, EPOCH + 1, TimestampSource.PAYLOAD),
        ({"ts": _DELETE, "gwts": _DELETE, "cnt": "338"}, None, TimestampSource.RECEIVE_TIME),
    ],
)
def test_ruuvi_gateway_timestamps(
    changes: dict[str, Any], expected_ts: int | None, source: TimestampSource
) -> None:
    result = _parse(GW_TOPIC, _gw(**changes))
    assert isinstance(result, TagReading)
    expected = RECEIVED if expected_ts is None else datetime.fromtimestamp(expected_ts, UTC)
    assert result.timestamp == expected
    assert result.timestamp_source is source


def test_ruuvi_gateway_mac_taken_from_topic_when_payload_has_none() -> None:
    result = _parse(GW_TOPIC, _gw(gw_mac=_DELETE))
    assert isinstance(result, TagReading)
    assert result.gateway_id == GW_MAC


def test_ruuvi_gateway_with_custom_prefix_without_macs() -> None:
    result = _parse("home/sensors", _gw(gw_mac=_DELETE))
    assert isinstance(result, TagReading)
    assert result.gateway_id is None
    assert result.tag_mac == TAG_MAC


def test_ruuvi_gateway_lower_case_hex_and_hyphen_macs() -> None:
    result = _parse(
        "ruuvi/c8-25-2d-8e-9c-2c/e3-75-cf-37-4e-23", _gw(data=GW_DATA.lower(), gw_mac=_DELETE)
    )
    assert isinstance(result, TagReading)
    assert result.gateway_id == GW_MAC
    assert result.tag_mac == TAG_MAC


def test_ruuvi_gateway_decoded_fields_in_contract_names_are_checked() -> None:
    good = _gw(temperature=29.455, humidity=76.38, measurement_sequence=38282)
    assert isinstance(_parse(GW_TOPIC, good), TagReading)
    assert _reason(_parse(GW_TOPIC, _gw(temperature=29.46))) is RejectReason.DECODE_MISMATCH
    assert _reason(_parse(GW_TOPIC, _gw(pressure="100631"))) is RejectReason.SCHEMA


def _advertisement(payload_hex: str) -> str:
    return "0201061BFF9904" + payload_hex


def test_ruuvi_gateway_tag_without_mac_in_payload_uses_topic() -> None:
    no_mac = PAYLOADS["valid"]["hex"][:-12] + "FFFFFFFFFFFF"
    result = _parse("ruuvi/C8:25:2D:8E:9C:2C/CB:B8:33:4C:88:4F", _gw(data=_advertisement(no_mac)))
    assert isinstance(result, TagReading)
    assert result.tag_mac == "CB:B8:33:4C:88:4F"
    assert result.values.mac is None
    assert _reason(_parse("ruuvi/x", _gw(data=_advertisement(no_mac)))) is RejectReason.BAD_MAC


@pytest.mark.parametrize(
    ("topic", "changes", "reason"),
    [
        ("ruuvi/C8:25:2D:8E:9C:2C/CB:B8:33:4C:88:4F", {}, RejectReason.DECODE_MISMATCH),
        (GW_TOPIC, {"data": "02010607FF4C000215AABB"}, RejectReason.NOT_RUUVI),
        (
            GW_TOPIC,
            {"data": "02010611FF990404778E5CC9C8FFBBFFFC040E0B6B"},
            RejectReason.UNKNOWN_FORMAT,
        ),
        (GW_TOPIC, {"data": GW_DATA[:-2]}, RejectReason.BAD_RAW_DATA),
        (GW_TOPIC, {"data": GW_DATA + "0"}, RejectReason.BAD_RAW_DATA),
        (GW_TOPIC, {"data": "xyz"}, RejectReason.BAD_RAW_DATA),
        (GW_TOPIC, {"data": 1234}, RejectReason.SCHEMA),
        (GW_TOPIC, {"data": None}, RejectReason.SCHEMA),
        (GW_TOPIC, {"gw_mac": "C8:25:2D"}, RejectReason.BAD_MAC),
        (GW_TOPIC, {"gw_mac": ""}, RejectReason.BAD_MAC),
        (GW_TOPIC, {"rssi": "-26"}, RejectReason.SCHEMA),
        (GW_TOPIC, {"rssi": 99}, RejectReason.OUT_OF_RANGE),
        (GW_TOPIC, {"aoa": "none"}, RejectReason.SCHEMA),
        (GW_TOPIC, {"ts": "not a time"}, RejectReason.BAD_TIMESTAMP),
        (GW_TOPIC, {"ts": "0"}, RejectReason.BAD_TIMESTAMP),
        (GW_TOPIC, {"ts": str(EPOCH + 86_400)}, RejectReason.BAD_TIMESTAMP),
        (GW_TOPIC, {"ts": 1.5}, RejectReason.SCHEMA),
    ],
)
def test_ruuvi_gateway_rejections(
    topic: str, changes: dict[str, Any], reason: RejectReason
) -> None:
    assert _reason(_parse(topic, _gw(**changes))) is reason


# --- status messages ---------------------------------------------------------------------------


@pytest.mark.parametrize(("state", "online"), [("online", True), ("offline", False)])
def test_firmware_status_messages(state: str, online: bool) -> None:
    result = _parse(FIRMWARE["status_topic"], FIRMWARE["status_payloads"][state])
    assert result == GatewayStatus(
        gateway_id="esp32-gw-01",
        online=online,
        source=SourceFormat.ESP32_FIRMWARE,
        gateway_mac="24:0A:C4:12:34:56",
    )


def test_firmware_status_gateway_id_from_topic() -> None:
    result = _parse("ruuvitag/status/gw-7", {"state": "offline"})
    assert isinstance(result, GatewayStatus)
    assert result.gateway_id == "gw-7"
    assert not result.online


@pytest.mark.parametrize("payload", [b'{"state": "online"}', b"online", b" Online\n"])
def test_ruuvi_gateway_status(payload: bytes) -> None:
    result = _parse(f"ruuvi/{GW_MAC}/gw_status", payload)
    assert result == GatewayStatus(
        gateway_id=GW_MAC, online=True, source=SourceFormat.RUUVI_GATEWAY
    )


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("ruuvitag/status/gw", {"state": "sleeping"}, RejectReason.SCHEMA),
        ("ruuvitag/status/gw", {"gateway_id": "gw"}, RejectReason.SCHEMA),
        ("ruuvitag/status/gw", b"maybe", RejectReason.NOT_JSON),
        ("ruuvitag/status/bad id", {"state": "online"}, RejectReason.SCHEMA),
        ("ruuvitag/status/gw", {"state": "online", "gateway_mac": "x"}, RejectReason.BAD_MAC),
        (f"ruuvi/{GW_MAC}/gw_status", {"state": 1}, RejectReason.SCHEMA),
    ],
)
def test_bad_status_messages(topic: str, payload: Any, reason: RejectReason) -> None:
    assert _reason(_parse(topic, payload)) is reason


def test_status_prefix_is_configurable() -> None:
    result = _parse("site/a/status/gw-1", {"state": "online"}, status_topic_prefix="site/a/status/")
    assert isinstance(result, GatewayStatus)
    assert result.gateway_id == "gw-1"


def test_a_bad_gateway_mac_is_rejected_every_time_despite_the_mac_cache() -> None:
    topic, received = GW_TOPIC, datetime.fromtimestamp(1.7e9, UTC)
    body = {"gw_mac": "not-a-mac", "rssi": -60, "data": GW_DATA, "ts": 1_700_000_000}
    for _ in range(3):
        result = parse_message(topic, json.dumps(body).encode(), received)
        assert isinstance(result, Rejection)
        assert result.reason is RejectReason.BAD_MAC
    body["gw_mac"] = "24-0a-c4-12-34-57"
    for _ in range(2):
        result = parse_message(topic, json.dumps(body).encode(), received)
        assert isinstance(result, TagReading)
        assert result.gateway_mac == "24:0A:C4:12:34:57"
