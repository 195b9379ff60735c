"""Validating Ruuvi data formats 3, 6 and E1 in every payload family: the firmware's JSON, the
official gateway's raw advertisements, its raw-and-decoded and its decoded MQTT modes. Each
valid message becomes the codec's reading; each malformed one gets a precise reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from iot_pipeline.adapter.reasons import Rejection, RejectReason
from iot_pipeline.adapter.validation import SourceFormat, TagReading, parse_message
from iot_pipeline.ruuvi import decode_any_hex, decode_payload, parse_hex
from iot_pipeline.ruuvi.formate1 import FormatE1Reading
from tests.unit.ruuvi.test_gateway_decoded import as_gateway_prints

VECTORS_DIR = Path(__file__).parents[2] / "vectors"
CONTRACT = json.loads((VECTORS_DIR / "esp32_gateway_message.json").read_text(encoding="utf-8"))
OTHER = json.loads((VECTORS_DIR / "ruuvi_other_formats.json").read_text(encoding="utf-8"))
VECTORS = {v["name"]: v for v in OTHER["vectors"]}
ADVERTISEMENTS = {a["name"]: a for a in OTHER["advertisements"]}
FIRMWARE: dict[str, dict[str, Any]] = CONTRACT["payloads_by_format"]
FW_TOPIC = CONTRACT["topic"]
RECEIVED = datetime(2026, 11, 23, 13, 37, 1, tzinfo=UTC)
TAG = "CB:B8:33:4C:88:4F"
GW = "C8:25:2D:8E:9C:2C"
GW_TOPIC = f"ruuvi/{GW}/{TAG}"
NO_MACS = "gateway/relay"  # a custom topic prefix naming no MAC
NUMBER = int(RECEIVED.timestamp()) - 2
FORMAT_KEYS = {"3": 3, "6": 6, "E1": 0xE1}
ADVERTISEMENT_OF = {
    "3": "format3_advertisement",
    "6": "format6_advertisement",
    "E1": "formatE1_extended_advertisement",
}


def _parse(topic: str, payload: dict[str, Any]) -> Any:
    return parse_message(topic, json.dumps(payload).encode(), RECEIVED)


def _reason(result: object) -> RejectReason:
    assert isinstance(result, Rejection), result
    assert result.message
    return result.reason


def _fw(key: str, **changes: Any) -> dict[str, Any]:
    payload = dict(FIRMWARE[key])
    for name, value in changes.items():
        if value is None and name.startswith("_drop_"):
            payload.pop(name.removeprefix("_drop_"))
        else:
            payload[name] = value
    return payload


def _gw(key: str, **extra: Any) -> dict[str, Any]:
    data = ADVERTISEMENTS[ADVERTISEMENT_OF[key]]["data"]
    return {"gw_mac": GW, "rssi": -40, "aoa": [], "ts": NUMBER, "data": data, **extra}


# --- this project's firmware --------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(FIRMWARE))
def test_firmware_message_of_each_format_is_its_raw_decoding(key: str) -> None:
    message = FIRMWARE[key]
    result = _parse(FW_TOPIC, message)
    assert isinstance(result, TagReading), result
    assert result.values == decode_payload(parse_hex(message["raw"]))
    assert result.values.data_format == FORMAT_KEYS[key]
    assert result.tag_mac == TAG
    assert result.source is SourceFormat.ESP32_FIRMWARE
    assert result.payload == parse_hex(message["raw"])
    assert result.raw == message["raw"].upper()


def test_firmware_e1_values_equal_the_official_vector() -> None:
    result = _parse(FW_TOPIC, FIRMWARE["E1"])
    assert isinstance(result.values, FormatE1Reading)
    expected = VECTORS["formatE1_valid"]["expected"]
    assert result.values.co2 == expected["co2"] == 201
    assert result.values.pm2_5 == expected["pm2_5"] == 11.2
    assert result.values.temperature == expected["temperature"] == 29.5
    assert result.values.measurement_sequence == 14601710  # all 24 bits


@pytest.mark.parametrize(
    ("key", "field"),
    [
        (key, field)
        for key, message in FIRMWARE.items()
        for field, value in message.items()
        if field not in ("gateway_id", "gateway_mac", "mac", "rssi", "timestamp", "data_format")
        and field != "raw"
        and value is not None
    ],
)
def test_firmware_every_stated_field_must_equal_the_decoding(key: str, field: str) -> None:
    value = FIRMWARE[key][field]
    changed = (not value) if isinstance(value, bool) else value + 1
    assert _reason(_parse(FW_TOPIC, _fw(key, **{field: changed}))) is RejectReason.DECODE_MISMATCH


@pytest.mark.parametrize("key", sorted(FIRMWARE))
@pytest.mark.parametrize("bad", ["201", True, [1], {"v": 1}])
def test_firmware_stated_field_of_the_wrong_type_is_schema(key: str, bad: object) -> None:
    field = "co2" if key != "3" else "battery"
    assert _reason(_parse(FW_TOPIC, _fw(key, **{field: bad}))) is RejectReason.SCHEMA


@pytest.mark.parametrize("key", ["6", "E1"])
def test_firmware_calibration_flag_must_be_a_boolean_and_agree(key: str) -> None:
    assert _reason(_parse(FW_TOPIC, _fw(key, calibration_in_progress=0))) is RejectReason.SCHEMA
    assert _reason(_parse(FW_TOPIC, _fw(key, calibration_in_progress=True))) is (
        RejectReason.DECODE_MISMATCH
    )


def test_firmware_null_stated_where_a_value_decodes_is_a_mismatch() -> None:
    for key in ("3", "6", "E1"):
        result = _parse(FW_TOPIC, _fw(key, temperature=None))
        assert _reason(result) is RejectReason.DECODE_MISMATCH


def test_firmware_message_with_only_raw_is_valid_for_every_format() -> None:
    for key, message in FIRMWARE.items():
        bare = {k: message[k] for k in ("gateway_id", "mac", "raw")}
        result = _parse(FW_TOPIC, bare)
        assert isinstance(result, TagReading), (key, result)
        assert result.values.data_format == FORMAT_KEYS[key]


@pytest.mark.parametrize(
    ("key", "changes", "reason", "words"),
    [
        # truncated / overlong payloads: the format and the length it needs
        ("E1", {"raw": FIRMWARE["E1"]["raw"][:-2]}, RejectReason.BAD_RAW_DATA, "40 bytes, got 39"),
        ("6", {"raw": FIRMWARE["6"]["raw"] + "00"}, RejectReason.BAD_RAW_DATA, "20 bytes, got 21"),
        ("3", {"raw": FIRMWARE["3"]["raw"][:-4]}, RejectReason.BAD_RAW_DATA, "14 bytes, got 12"),
        ("E1", {"raw": FIRMWARE["E1"]["raw"][:-1]}, RejectReason.BAD_RAW_DATA, "odd"),
        ("6", {"raw": "06" + "ZZ" * 19}, RejectReason.BAD_RAW_DATA, "hex"),
        # the format byte disagrees with data_format
        ("E1", {"data_format": 6}, RejectReason.DECODE_MISMATCH, "Format E1 payload"),
        ("6", {"data_format": 225}, RejectReason.DECODE_MISMATCH, "Format 6 payload"),
        ("3", {"data_format": 5}, RejectReason.DECODE_MISMATCH, "Format 3 payload"),
        ("E1", {"data_format": 226}, RejectReason.UNKNOWN_FORMAT, "226"),
        ("E1", {"raw": "E2" + FIRMWARE["E1"]["raw"][2:]}, RejectReason.UNKNOWN_FORMAT, "E2"),
        # the payload's MAC is another tag's
        ("E1", {"mac": "CB:B8:33:4C:88:40"}, RejectReason.DECODE_MISMATCH, "carries"),
        ("6", {"mac": "CB:B8:33:4C:88:40"}, RejectReason.DECODE_MISMATCH, "4C:88:4F"),
        ("6", {"mac": "00:00:00:4C:88:4F"}, None, ""),  # only the low half is carried
        ("3", {"mac": "00:11:22:33:44:55"}, None, ""),  # Format 3 carries none
        # Formats 3, 6 and E1 need their payload
        ("E1", {"_drop_raw": None}, RejectReason.SCHEMA, "raw"),
        ("6", {"_drop_raw": None}, RejectReason.SCHEMA, "raw"),
        ("3", {"_drop_raw": None}, RejectReason.SCHEMA, "raw"),
        ("E1", {"measurement_sequence": 14601710.5}, RejectReason.SCHEMA, "measurement_sequence"),
    ],
)
def test_firmware_malformed_payloads_get_precise_reasons(
    key: str, changes: dict[str, Any], reason: RejectReason | None, words: str
) -> None:
    result = _parse(FW_TOPIC, _fw(key, **changes))
    if reason is None:
        assert isinstance(result, TagReading), result
        return
    assert _reason(result) is reason
    assert words in result.message


@pytest.mark.parametrize(
    "name", [n for n in VECTORS if not n.endswith("_valid") and not n.startswith("format3_inv")]
)
def test_firmware_messages_of_the_extreme_vectors_are_valid(name: str) -> None:
    """Maximum, minimum and all-'not available' payloads are valid readings (nulls stay null)."""
    vector = VECTORS[name]
    expected = vector["expected"]
    mac = expected.get("mac") if expected.get("mac") and len(expected["mac"]) == 17 else TAG
    if expected.get("mac") and len(expected["mac"]) == 8:
        mac = "00:00:00:" + expected["mac"]
    fields = {k: v for k, v in expected.items() if k not in ("data_format", "mac")}
    message = {"gateway_id": "gw", "mac": mac, "raw": vector["hex"], **fields}
    result = _parse(FW_TOPIC, message)
    assert isinstance(result, TagReading), (name, result)
    assert result.values.to_dict() == expected


# --- the official Ruuvi Gateway: raw advertisements --------------------------------------------


@pytest.mark.parametrize("key", sorted(ADVERTISEMENT_OF))
def test_gateway_advertisement_of_each_format_is_a_reading(key: str) -> None:
    advertisement = ADVERTISEMENTS[ADVERTISEMENT_OF[key]]
    result = _parse(GW_TOPIC, _gw(key))
    assert isinstance(result, TagReading), result
    assert result.values == decode_any_hex(advertisement["data"])
    assert result.values.to_dict() == VECTORS[advertisement["expected_vector"]]["expected"]
    assert result.tag_mac == TAG and result.gateway_mac == GW
    assert result.source is SourceFormat.RUUVI_GATEWAY
    assert result.payload is not None and result.payload[0] == FORMAT_KEYS[key]


@pytest.mark.parametrize(
    ("key", "topic", "reason"),
    [
        ("3", NO_MACS, RejectReason.BAD_MAC),  # no MAC in payload or topic
        ("6", NO_MACS, RejectReason.BAD_MAC),  # only half a MAC in the payload
        ("E1", NO_MACS, None),  # the payload's full MAC
        ("6", f"ruuvi/{GW}/CB:B8:33:4C:88:40", RejectReason.DECODE_MISMATCH),
        ("E1", f"ruuvi/{GW}/CB:B8:33:4C:88:40", RejectReason.DECODE_MISMATCH),
        ("3", f"ruuvi/{GW}/00:11:22:33:44:55", None),
    ],
)
def test_gateway_tag_mac_per_format(key: str, topic: str, reason: RejectReason | None) -> None:
    result = _parse(topic, _gw(key))
    if reason is None:
        assert isinstance(result, TagReading), result
        assert result.tag_mac in (TAG, topic[-17:])
    else:
        assert _reason(result) is reason


def _advertisement(payload_hex: str) -> str:
    body = "FF9904" + payload_hex
    return "020106" + f"{len(body) // 2:02X}" + body


@pytest.mark.parametrize(
    ("payload_hex", "reason", "words"),
    [
        (FIRMWARE["E1"]["raw"][:-2], RejectReason.BAD_RAW_DATA, "Format E1"),
        (FIRMWARE["6"]["raw"][:-2], RejectReason.BAD_RAW_DATA, "Format 6"),
        (FIRMWARE["3"]["raw"] + "00", RejectReason.BAD_RAW_DATA, "Format 3"),
        ("E2" + FIRMWARE["E1"]["raw"][2:], RejectReason.UNKNOWN_FORMAT, "E2"),
    ],
)
def test_gateway_malformed_payloads_get_precise_reasons(
    payload_hex: str, reason: RejectReason, words: str
) -> None:
    result = _parse(GW_TOPIC, _gw("E1", data=_advertisement(payload_hex)))
    assert _reason(result) is reason
    assert words in result.message


# --- the official gateway's raw-and-decoded and decoded modes ------------------------------------


@pytest.mark.parametrize("key", ["6", "E1"])
def test_raw_and_decoded_mode_is_checked_to_the_gateway_s_precision(key: str) -> None:
    decoded = as_gateway_prints(FIRMWARE[key]["raw"])
    result = _parse(GW_TOPIC, _gw(key, **decoded))
    assert isinstance(result, TagReading), result
    assert result.values == decode_any_hex(FIRMWARE[key]["raw"])  # the raw data wins


def test_raw_and_decoded_mode_format5() -> None:
    data = "0201061BFF99040512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F"
    decoded = as_gateway_prints(data[14:])
    result = _parse(GW_TOPIC, {"gw_mac": GW, "data": data, **decoded})
    assert isinstance(result, TagReading), result


@pytest.mark.parametrize(
    ("key", "change", "reason"),
    [
        ("E1", {"CO2": 202}, RejectReason.DECODE_MISMATCH),
        ("E1", {"PM2.5": 11.4}, RejectReason.DECODE_MISMATCH),
        ("E1", {"temperature": 29.6}, RejectReason.DECODE_MISMATCH),
        ("E1", {"temperature": 29.54}, None),  # within the gateway's rounding
        ("E1", {"measurementSequenceNumber": 14601711}, RejectReason.DECODE_MISMATCH),
        ("E1", {"dataFormat": 6}, RejectReason.OUT_OF_RANGE),  # 24-bit sequence
        ("6", {"dataFormat": "E1", "id": None}, RejectReason.DECODE_MISMATCH),
        ("6", {"dataFormat": "E1"}, RejectReason.SCHEMA),  # E1's id is a whole MAC
        ("E1", {"dataFormat": 3}, RejectReason.UNKNOWN_FORMAT),
        ("E1", {"CO2": "201"}, RejectReason.SCHEMA),
        ("E1", {"CO2": 70000}, RejectReason.OUT_OF_RANGE),
        ("6", {"flag_calibration_in_progress": True}, RejectReason.DECODE_MISMATCH),
        ("6", {"flag_calibration_in_progress": "no"}, RejectReason.SCHEMA),
        ("6", {"luminosity": 13027}, None),
        ("6", {"luminosity": 13028}, RejectReason.DECODE_MISMATCH),
    ],
)
def test_raw_and_decoded_mode_disagreements(
    key: str, change: dict[str, Any], reason: RejectReason | None
) -> None:
    decoded = {**as_gateway_prints(FIRMWARE[key]["raw"]), **change}
    result = _parse(GW_TOPIC, _gw(key, **decoded))
    if reason is None:
        assert isinstance(result, TagReading), result
    else:
        assert _reason(result) is reason


@pytest.mark.parametrize("key", ["6", "E1"])
def test_decoded_mode_is_a_reading_of_the_topic_s_tag(key: str) -> None:
    decoded = as_gateway_prints(FIRMWARE[key]["raw"])
    result = _parse(GW_TOPIC, {"gw_mac": GW, "rssi": -50, "ts": NUMBER, **decoded})
    assert isinstance(result, TagReading), result
    assert result.source is SourceFormat.RUUVI_GATEWAY_DECODED
    assert result.tag_mac == TAG and result.raw is None and result.payload is None
    assert result.values.data_format == FORMAT_KEYS[key]
    assert result.values.co2 == 201 and result.values.pm2_5 == 11.2
    assert result.values.temperature == 29.5


def test_decoded_mode_format5_and_its_own_mac() -> None:
    decoded = as_gateway_prints("0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F")
    result = _parse(NO_MACS, {"gw_mac": GW, **decoded})
    assert isinstance(result, TagReading), result
    assert result.tag_mac == TAG and result.values.temperature == 24.3


@pytest.mark.parametrize(
    ("topic", "change", "reason"),
    [
        (GW_TOPIC, {"dataFormat": 3}, RejectReason.UNKNOWN_FORMAT),
        (GW_TOPIC, {"dataFormat": "F0"}, RejectReason.UNKNOWN_FORMAT),
        (GW_TOPIC, {"CO2": 70000}, RejectReason.OUT_OF_RANGE),
        (GW_TOPIC, {"VOC": 511}, RejectReason.OUT_OF_RANGE),
        (GW_TOPIC, {"PM2.5": -0.1}, RejectReason.OUT_OF_RANGE),
        (GW_TOPIC, {"CO2": 201.5}, RejectReason.SCHEMA),
        (GW_TOPIC, {"temperature": "hot"}, RejectReason.SCHEMA),
        (GW_TOPIC, {"id": 5}, RejectReason.SCHEMA),
        (GW_TOPIC, {"rssi": 99}, RejectReason.OUT_OF_RANGE),
        (GW_TOPIC, {"gw_mac": "nope"}, RejectReason.BAD_MAC),
        (GW_TOPIC, {"ts": "yesterday"}, RejectReason.BAD_TIMESTAMP),
        (f"ruuvi/{GW}/CB:B8:33:4C:88:40", {}, RejectReason.DECODE_MISMATCH),
        (NO_MACS, {"id": "4C:88:4F"}, RejectReason.SCHEMA),  # E1 states a whole MAC
        (NO_MACS, {"id": None}, RejectReason.BAD_MAC),  # no tag named anywhere
        (NO_MACS, {}, None),  # E1's id is the full MAC
    ],
)
def test_decoded_mode_rejections(
    topic: str, change: dict[str, Any], reason: RejectReason | None
) -> None:
    decoded = {**as_gateway_prints(FIRMWARE["E1"]["raw"]), **change}
    result = _parse(topic, {"gw_mac": GW, "ts": NUMBER, **decoded} | change)
    if reason is None:
        assert isinstance(result, TagReading), result
        assert result.tag_mac == TAG
    else:
        assert _reason(result) is reason
