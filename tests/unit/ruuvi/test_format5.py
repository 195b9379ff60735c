"""Format 5 codec: official vectors, exact numeric convention, sentinels, errors, properties."""

from __future__ import annotations

import json
import math
import struct
from dataclasses import FrozenInstanceError, replace
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iot_pipeline.ruuvi import (
    FIELD_NAMES,
    ErrorKind,
    RuuviCodecError,
    RuuviReading,
    decode,
    decode_hex,
    encode,
    encode_hex,
    parse_hex,
    parse_mac,
)

VECTORS = json.loads(
    (Path(__file__).parents[2] / "vectors" / "ruuvi_format5.json").read_text(encoding="utf-8")
)
PAYLOADS = {v["name"]: v for v in VECTORS["format5_payloads"]}
VALID_HEX = PAYLOADS["valid"]["hex"]


@pytest.mark.parametrize("name", ["valid", "maximum", "minimum", "invalid"])
def test_official_vectors_decode_exactly(name: str) -> None:
    vector = PAYLOADS[name]
    reading = decode_hex(vector["hex"])
    got = reading.to_dict()
    assert got.pop("data_format") == 5
    assert got == vector["expected"]
    # exact types: floats stay floats (0.0, not 0), ints stay ints
    for key, value in vector["expected"].items():
        if value is not None:
            assert type(got[key]) is type(value), key


@pytest.mark.parametrize("name", ["valid", "maximum", "minimum", "invalid"])
def test_official_vectors_encode_back_to_the_same_bytes(name: str) -> None:
    vector = PAYLOADS[name]
    assert encode_hex(decode_hex(vector["hex"])) == vector["hex"].upper()


def test_minimum_humidity_is_a_float_zero() -> None:
    assert decode_hex(PAYLOADS["minimum"]["hex"]).humidity == 0.0
    assert isinstance(decode_hex(PAYLOADS["minimum"]["hex"]).humidity, float)


def test_reading_is_frozen_and_keys_are_in_contract_order() -> None:
    reading = decode_hex(VALID_HEX)
    with pytest.raises(FrozenInstanceError):
        reading.temperature = 1.0  # type: ignore[misc]
    assert tuple(reading.to_dict()) == FIELD_NAMES


def _payload_with(offset: int, raw: bytes) -> bytes:
    base = bytearray(bytes.fromhex(VALID_HEX))
    base[offset : offset + len(raw)] = raw
    return bytes(base)


def test_temperature_is_one_correctly_rounded_division_for_every_raw_value() -> None:
    for raw in range(-32767, 32768):
        value = decode(_payload_with(1, struct.pack(">h", raw))).temperature
        assert value == float(Fraction(raw * 5, 1000)), raw


def test_humidity_is_one_correctly_rounded_division_for_every_raw_value() -> None:
    for raw in range(65535):
        value = decode(_payload_with(3, struct.pack(">H", raw))).humidity
        assert value == float(Fraction(raw * 25, 10000)), raw


def test_acceleration_is_one_correctly_rounded_division_for_every_raw_value() -> None:
    for raw in range(-32767, 32768):
        reading = decode(_payload_with(7, struct.pack(">hhh", raw, -raw, raw)))
        assert reading.acceleration_x == float(Fraction(raw, 1000)), raw
        assert reading.acceleration_y == float(Fraction(-raw, 1000)), raw
        assert reading.acceleration_z == float(Fraction(raw, 1000)), raw


def test_power_info_splits_into_battery_and_tx_power_for_every_raw_value() -> None:
    for battery_raw in range(2048):
        for tx_raw in (0, 1, 15, 30, 31):
            reading = decode(_payload_with(13, struct.pack(">H", battery_raw << 5 | tx_raw)))
            expected_battery = (
                None if battery_raw == 2047 else float(Fraction(1600 + battery_raw, 1000))
            )
            assert reading.battery == expected_battery
            assert reading.tx_power == (None if tx_raw == 31 else -40 + 2 * tx_raw)


@pytest.mark.parametrize(
    ("offset", "raw", "field"),
    [
        (1, b"\x80\x00", "temperature"),
        (3, b"\xff\xff", "humidity"),
        (5, b"\xff\xff", "pressure"),
        (7, b"\x80\x00", "acceleration_x"),
        (9, b"\x80\x00", "acceleration_y"),
        (11, b"\x80\x00", "acceleration_z"),
        (15, b"\xff", "movement_counter"),
        (16, b"\xff\xff", "measurement_sequence"),
        (18, b"\xff" * 6, "mac"),
    ],
)
def test_each_sentinel_alone_becomes_none(offset: int, raw: bytes, field: str) -> None:
    reading = decode(_payload_with(offset, raw)).to_dict()
    assert reading[field] is None
    others = {k: v for k, v in reading.items() if k != field}
    assert all(v is not None for v in others.values())


def test_sentinel_neighbours_are_values() -> None:
    reading = decode(
        _payload_with(1, b"\x80\x01\xff\xfe\xff\xfe\x80\x01\x80\x01\x80\x01\xff\xde\xfe\xff\xfe")
    )
    assert reading.temperature == -163.835
    assert reading.humidity == 163.835
    assert reading.pressure == 115534
    assert reading.acceleration_x == -32.767
    assert reading.battery == 3.646
    assert reading.tx_power == 20
    assert reading.movement_counter == 254
    assert reading.measurement_sequence == 65534


def test_mac_is_upper_case_with_colons() -> None:
    assert decode(_payload_with(18, bytes.fromhex("0a0b0c0d0e0f"))).mac == "0A:0B:0C:0D:0E:0F"


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hex_text", "kind", "fragment"),
    [
        ("", ErrorKind.BAD_HEX, "empty"),
        ("   ", ErrorKind.BAD_HEX, "empty"),
        ("0g", ErrorKind.BAD_HEX, "invalid hex"),
        ("0x0512", ErrorKind.BAD_HEX, "invalid hex"),
        ("05 12", ErrorKind.BAD_HEX, "invalid hex"),
        ("051", ErrorKind.BAD_HEX, "odd"),
        ("05", ErrorKind.WRONG_LENGTH, "24 bytes, got 1"),
        (VALID_HEX + "00", ErrorKind.WRONG_LENGTH, "got 25"),
        (VALID_HEX[:-2], ErrorKind.WRONG_LENGTH, "got 23"),
        ("03" + VALID_HEX[2:], ErrorKind.UNKNOWN_FORMAT, "data format 3"),
        ("06" + VALID_HEX[2:], ErrorKind.UNKNOWN_FORMAT, "data format 6"),
        ("E1" + VALID_HEX[2:], ErrorKind.UNKNOWN_FORMAT, "0xE1"),
    ],
)
def test_decode_errors_are_codec_errors_with_kind_and_message(
    hex_text: str, kind: ErrorKind, fragment: str
) -> None:
    with pytest.raises(RuuviCodecError) as info:
        decode_hex(hex_text)
    assert info.value.kind is kind
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_decode_of_empty_bytes() -> None:
    with pytest.raises(RuuviCodecError) as info:
        decode(b"")
    assert info.value.kind is ErrorKind.WRONG_LENGTH


def test_hex_accepts_lower_case_and_surrounding_whitespace() -> None:
    assert decode_hex(f"  {VALID_HEX.lower()}\r\n") == decode_hex(VALID_HEX)
    assert parse_hex("\tABcd ") == b"\xab\xcd"


def test_parse_mac() -> None:
    assert parse_mac("cb:b8:33:4c:88:4f") == bytes.fromhex("cbb8334c884f")
    for bad in ("CB:B8:33:4C:88", "CB-B8-33-4C-88-4F", "CB:B8:33:4C:88:4G", "CBB8334C884F", ""):
        with pytest.raises(RuuviCodecError):
            parse_mac(bad)


# --- encoding ----------------------------------------------------------------------------------

VALID_READING = decode_hex(VALID_HEX)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", 163.8376),
        ("temperature", -163.84),
        ("temperature", math.inf),
        ("temperature", math.nan),
        ("humidity", -0.002),
        ("humidity", 163.8363),
        ("pressure", 49999),
        ("pressure", 115535),
        ("acceleration_x", 32.768),
        ("acceleration_y", -32.768),
        ("acceleration_z", 1e9),
        ("battery", 1.599),
        ("battery", 3.647),
        ("tx_power", -42),
        ("tx_power", 22),
        ("tx_power", 3),
        ("movement_counter", 255),
        ("movement_counter", -1),
        ("measurement_sequence", 65535),
        ("measurement_sequence", -1),
        ("mac", "FF:FF:FF:FF:FF:FF"),
    ],
)
def test_encode_rejects_out_of_range_values(field: str, value: object) -> None:
    with pytest.raises(RuuviCodecError) as info:
        encode(replace(VALID_READING, **{field: value}))
    assert info.value.kind is ErrorKind.OUT_OF_RANGE
    assert field in str(info.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", "24.3"),
        ("temperature", True),
        ("pressure", 100044.0),
        ("movement_counter", 1.0),
        ("measurement_sequence", "1"),
        ("mac", "CB:B8:33:4C:88"),
        ("mac", 42),
    ],
)
def test_encode_rejects_wrong_types(field: str, value: object) -> None:
    with pytest.raises(RuuviCodecError) as info:
        encode(replace(VALID_READING, **{field: value}))
    assert info.value.kind is ErrorKind.BAD_VALUE


def test_encode_rejects_other_formats() -> None:
    with pytest.raises(RuuviCodecError) as info:
        encode(replace(VALID_READING, data_format=3))
    assert info.value.kind is ErrorKind.UNKNOWN_FORMAT


def test_encode_rounds_to_the_format_resolution() -> None:
    reading = replace(VALID_READING, temperature=21.1234, humidity=40.001, battery=3.0004)
    decoded = decode(encode(reading))
    assert decoded.temperature == 21.125
    assert decoded.humidity == 40.0
    assert decoded.battery == 3.0


def test_encode_accepts_integers_for_float_fields_and_lower_case_mac() -> None:
    reading = replace(VALID_READING, temperature=20, battery=3, mac="cb:b8:33:4c:88:4f")
    decoded = decode(encode(reading))
    assert decoded.temperature == 20.0
    assert decoded.battery == 3.0
    assert decoded.mac == "CB:B8:33:4C:88:4F"


# --- properties --------------------------------------------------------------------------------


def _optional(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(st.none(), strategy)


# Readings with exactly representable values over the whole valid range (built from raw ints
# the same way the contract defines the physical value).
exact_readings = st.builds(
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
    mac=_optional(
        st.binary(min_size=6, max_size=6)
        .filter(lambda b: b != b"\xff" * 6)
        .map(lambda b: ":".join(f"{x:02X}" for x in b))
    ),
)


@given(exact_readings)
def test_round_trip_reading_encode_decode(reading: RuuviReading) -> None:
    payload = encode(reading)
    assert len(payload) == 24
    assert payload[0] == 5
    assert decode(payload) == reading


@given(
    st.builds(
        RuuviReading,
        data_format=st.just(5),
        temperature=st.floats(-163.8374, 163.8374),
        humidity=st.floats(0, 163.8362),
        pressure=st.integers(50000, 115534),
        acceleration_x=st.floats(-32.7674, 32.7674),
        acceleration_y=st.floats(-32.7674, 32.7674),
        acceleration_z=st.floats(-32.7674, 32.7674),
        tx_power=st.integers(-20, 10).map(lambda r: 2 * r),
        battery=st.floats(1.6, 3.6464),
        movement_counter=st.integers(0, 254),
        measurement_sequence=st.integers(0, 65534),
        mac=st.just("CB:B8:33:4C:88:4F"),
    )
)
def test_any_in_range_float_encodes_within_half_a_step(reading: RuuviReading) -> None:
    decoded = decode(encode(reading))
    assert abs(decoded.temperature - reading.temperature) <= 0.0025 + 1e-12
    assert abs(decoded.humidity - reading.humidity) <= 0.00125 + 1e-12
    for axis in ("acceleration_x", "acceleration_y", "acceleration_z"):
        assert abs(getattr(decoded, axis) - getattr(reading, axis)) <= 0.0005 + 1e-12
    assert abs(decoded.battery - reading.battery) <= 0.0005 + 1e-12
    assert (decoded.pressure, decoded.tx_power) == (reading.pressure, reading.tx_power)


@given(st.binary(min_size=24, max_size=24).map(lambda b: b"\x05" + b[1:]))
def test_round_trip_bytes_decode_encode(payload: bytes) -> None:
    reading = decode(payload)
    again = encode(reading)
    # Every raw field maps back exactly, except the sentinel encodings that share a meaning.
    assert decode(again) == reading
    if reading.temperature is not None and reading.acceleration_x is not None:
        assert again[1:3] == payload[1:3]
        assert again[7:9] == payload[7:9]


@given(st.binary(max_size=64))
def test_decode_raises_only_codec_errors_on_arbitrary_bytes(data: bytes) -> None:
    try:
        reading = decode(data)
    except RuuviCodecError as exc:
        assert exc.message
    else:
        assert len(data) == 24 and data[0] == 5
        assert reading.data_format == 5


@given(st.text(max_size=80))
def test_decode_hex_raises_only_codec_errors_on_arbitrary_text(text: str) -> None:
    try:
        decode_hex(text)
    except RuuviCodecError as exc:
        assert exc.message
