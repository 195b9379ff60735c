"""Formats 3, 6 and E1: official vectors, sentinels, exact convention, encoders, errors."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iot_pipeline.ruuvi import (
    ErrorKind,
    RuuviCodecError,
    decode_any_hex,
    decode_payload,
    format3,
    format6,
    formate1,
    payload_length,
)
from tests.ruuvi_payloads import random_payload

DOC = json.loads(
    (Path(__file__).parents[2] / "vectors" / "ruuvi_other_formats.json").read_text("utf-8")
)
VECTORS = {v["name"]: v for v in DOC["vectors"]}
MODULES = {3: format3, 6: format6, 0xE1: formate1}


@pytest.mark.parametrize("name", list(VECTORS))
def test_vectors_decode_exactly_with_types_and_order(name: str) -> None:
    vector = VECTORS[name]
    got = decode_any_hex(vector["hex"]).to_dict()
    assert got == vector["expected"]
    assert list(got) == list(vector["expected"])
    for key, value in vector["expected"].items():
        if value is not None:
            assert type(got[key]) is type(value), key


@pytest.mark.parametrize("advertisement", DOC["advertisements"], ids=lambda a: a["name"])
def test_whole_advertisements_decode_like_their_payload(advertisement: dict) -> None:
    expected = VECTORS[advertisement["expected_vector"]]["expected"]
    assert decode_any_hex(advertisement["data"]).to_dict() == expected


@pytest.mark.parametrize("name", [n for n in VECTORS if n != "format3_all_ff"])
def test_vectors_encode_back(name: str) -> None:
    """decode -> encode gives the original bytes, up to what the encoder normalises: reserved
    bytes (0xFF) and reserved flag bits (0). (format3_all_ff has hundredths 255, outside the
    spec's 0..99: it decodes, but no canonical payload encodes its -129.55 degC.)"""
    raw = bytes.fromhex(VECTORS[name]["hex"])
    reading = decode_payload(raw)
    again = MODULES[raw[0]].encode(reading)
    assert decode_payload(again) == reading
    if raw[0] == 6:
        assert again[:16] == raw[:16] and again[17:] == raw[17:]
        assert again[16] == raw[16] & 0xC1
    elif raw[0] == 0xE1:
        assert again[:28] == raw[:28] and again[29:] == raw[29:]
        assert again[28] == raw[28] & 0xC1
    else:
        assert again == raw


def test_payload_lengths() -> None:
    assert [payload_length(f) for f in (3, 5, 6, 0xE1, 4, 0)] == [14, 24, 20, 40, None, None]


@pytest.mark.parametrize("data_format", [3, 6, 0xE1])
def test_wrong_length_and_wrong_format_are_refused(data_format: int) -> None:
    module = MODULES[data_format]
    payload = random_payload(data_format, random.Random(1))
    for bad, kind in (
        (payload[:-1], ErrorKind.WRONG_LENGTH),
        (payload + b"\0", ErrorKind.WRONG_LENGTH),
        (b"", ErrorKind.WRONG_LENGTH),
        (b"\x05" + payload[1:], ErrorKind.UNKNOWN_FORMAT),
    ):
        with pytest.raises(RuuviCodecError) as info:
            module.decode(bad)
        assert info.value.kind is kind


@pytest.mark.parametrize("data_format", [3, 6, 0xE1])
def test_random_payloads_round_trip_through_the_encoder(data_format: int) -> None:
    rng = random.Random(data_format)
    for _ in range(2000):
        payload = bytearray(random_payload(data_format, rng))
        if data_format == 3:
            payload[3] %= 100  # hundredths 0..99 (the spec's range; others are not canonical)
        reading = decode_payload(bytes(payload))
        assert decode_payload(MODULES[data_format].encode(reading)) == reading


# --- Format 3 ---------------------------------------------------------------------------------


def test_format3_temperature_is_sign_and_magnitude() -> None:
    base = bytearray.fromhex(VECTORS["format3_valid"]["hex"])
    base[2:4] = b"\x81\x45"  # the spec's example: -1.69
    assert format3.decode(bytes(base)).temperature == -1.69
    base[2:4] = b"\x01\x45"
    assert format3.decode(bytes(base)).temperature == 1.69
    base[2:4] = b"\x80\x00"  # negative zero is zero
    assert format3.decode(bytes(base)).temperature == 0.0


@given(st.integers(-12799, 12799))
def test_format3_temperature_convention(centi: int) -> None:
    reading = replace(format3.decode_hex(VECTORS["format3_valid"]["hex"]), temperature=centi / 100)
    assert format3.decode(format3.encode(reading)).temperature == centi / 100


def test_format3_encoder_refuses_what_the_format_cannot_carry() -> None:
    reading = format3.decode_hex(VECTORS["format3_valid"]["hex"])
    for field, value in (
        ("tx_power", 4),
        ("measurement_sequence", 1),
        ("mac", "AA:BB:CC:DD:EE:FF"),
    ):
        with pytest.raises(RuuviCodecError, match="cannot carry"):
            format3.encode(replace(reading, **{field: value}))
    with pytest.raises(RuuviCodecError, match="no 'not available'"):
        format3.encode(replace(reading, humidity=None))
    with pytest.raises(RuuviCodecError) as info:
        format3.encode(replace(reading, temperature=128.0))
    assert info.value.kind is ErrorKind.OUT_OF_RANGE


# --- Formats 6 and E1 -------------------------------------------------------------------------


def test_format6_luminosity_follows_the_formula_for_every_code() -> None:
    delta = math.log(65536) / 254
    for code in range(255):
        exact = math.exp(code * delta) - 1
        assert abs(format6.LUX_TABLE[code] - exact) <= 0.005 + 1e-9
        assert format6.encode_luminosity(format6.LUX_TABLE[code]) == code
    assert format6.LUX_TABLE[0] == 0.0 and format6.LUX_TABLE[254] == 65535.0
    assert (format6.LUX_TABLE[1], format6.LUX_TABLE[16]) == (0.04, 1.01)  # the spec's examples


@pytest.mark.parametrize(("module", "offset", "flags_at"), [(format6, 11, 16), (formate1, 17, 28)])
def test_voc_nox_are_9_bit_with_the_low_bit_in_the_flags(module, offset, flags_at) -> None:
    payload = bytearray(random_payload(module.DATA_FORMAT, random.Random(3)))
    payload[offset : offset + 2] = b"\x74\x00"
    payload[flags_at] = 0b0100_0000  # VOC low bit set, NOx low bit clear, no calibration
    reading = module.decode(bytes(payload))
    assert (reading.voc_index, reading.nox_index) == (233, 0)
    assert reading.calibration_in_progress is False
    payload[offset : offset + 2] = b"\xff\xff"
    payload[flags_at] = 0b0100_0001  # VOC 0x1FF (not available), NOx 0x1FE = 510
    reading = module.decode(bytes(payload))
    assert (reading.voc_index, reading.nox_index) == (None, 510)
    assert reading.calibration_in_progress is True


def test_e1_24_bit_fields_and_sentinels() -> None:
    payload = bytearray.fromhex(VECTORS["formatE1_valid"]["hex"])
    payload[25:28] = b"\xff\xff\xfe"
    payload[19:22] = b"\xff\xff\xfe"
    reading = formate1.decode(bytes(payload))
    assert reading.measurement_sequence == 16_777_214
    assert reading.luminosity == 167_772.14
    payload[25:28] = b"\xff\xff\xff"
    payload[19:22] = b"\xff\xff\xff"
    reading = formate1.decode(bytes(payload))
    assert reading.measurement_sequence is None and reading.luminosity is None


def test_format6_has_no_sequence_sentinel_and_a_3_byte_mac() -> None:
    reading = format6.decode_hex(VECTORS["format6_invalid"]["hex"])
    assert reading.measurement_sequence == 255
    assert reading.mac is None
    with pytest.raises(RuuviCodecError):
        format6.encode(replace(reading, mac="AA:BB:CC:DD:EE:FF"))
    with pytest.raises(RuuviCodecError):
        format6.encode(replace(reading, measurement_sequence=256))
    with pytest.raises(RuuviCodecError):
        format6.encode(replace(reading, mac="FF:FF:FF"))


@pytest.mark.parametrize("module", [format6, formate1])
def test_air_encoders_refuse_bad_values(module) -> None:
    name = "format6_valid" if module is format6 else "formatE1_valid"
    reading = module.decode_hex(VECTORS[name]["hex"])
    for field, value in (
        ("voc_index", 511),
        ("co2", 65535),
        ("pm2_5", 6553.5),
        ("calibration_in_progress", 1),
        ("temperature", float("nan")),
        ("pressure", 101325.5),
        ("data_format", 5),
    ):
        with pytest.raises(RuuviCodecError):
            module.encode(replace(reading, **{field: value}))
