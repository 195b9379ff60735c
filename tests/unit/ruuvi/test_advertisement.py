"""Finding Ruuvi manufacturer data in whole BLE advertisements (Ruuvi Gateway `data` field)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iot_pipeline.ruuvi import (
    ErrorKind,
    RuuviCodecError,
    decode_any,
    decode_any_hex,
    decode_hex,
    find_ruuvi_manufacturer_data,
    iter_ad_structures,
)

VECTORS = json.loads(
    (Path(__file__).parents[2] / "vectors" / "ruuvi_format5.json").read_text(encoding="utf-8")
)
GATEWAY = VECTORS["ruuvi_gateway_advertisement"]
VALID_HEX = VECTORS["format5_payloads"][0]["hex"]


def _ad(ad_type: int, data: bytes) -> bytes:
    return bytes((len(data) + 1, ad_type)) + data


def _ruuvi_ad(payload_hex: str) -> bytes:
    return _ad(0xFF, b"\x99\x04" + bytes.fromhex(payload_hex))


def test_official_gateway_advertisement_decodes_exactly() -> None:
    got = decode_any_hex(GATEWAY["data"]).to_dict()
    assert got.pop("data_format") == 5
    assert got == GATEWAY["expected"]


def test_gateway_advertisement_structures() -> None:
    structures = list(iter_ad_structures(bytes.fromhex(GATEWAY["data"])))
    assert [t for t, _ in structures] == [0x01, 0xFF]
    assert structures[0][1] == b"\x06"
    assert len(find_ruuvi_manufacturer_data(bytes.fromhex(GATEWAY["data"]))) == 24


def test_bare_payload_is_accepted_by_decode_any() -> None:
    assert decode_any_hex(VALID_HEX) == decode_hex(VALID_HEX)


@pytest.mark.parametrize(
    "advertisement",
    [
        _ad(0x01, b"\x06") + _ruuvi_ad(VALID_HEX),
        _ruuvi_ad(VALID_HEX),
        # other manufacturers first (Apple 0x004C), a name, then Ruuvi
        _ad(0x01, b"\x06")
        + _ad(0xFF, b"\x4c\x00\x02\x15")
        + _ad(0x09, b"Ruuvi")
        + _ruuvi_ad(VALID_HEX),
        # trailing zero padding after the significant part
        _ad(0x01, b"\x06") + _ruuvi_ad(VALID_HEX) + b"\x00" * 3,
    ],
)
def test_ruuvi_data_found_among_other_structures(advertisement: bytes) -> None:
    assert decode_any(advertisement) == decode_hex(VALID_HEX)


def test_structures_after_zero_length_terminator_are_ignored() -> None:
    advertisement = _ad(0x01, b"\x06") + b"\x00" + _ruuvi_ad(VALID_HEX)
    with pytest.raises(RuuviCodecError) as info:
        decode_any(advertisement)
    assert info.value.kind is ErrorKind.NO_RUUVI_DATA


@pytest.mark.parametrize(
    ("advertisement", "kind"),
    [
        (_ad(0x01, b"\x06") + _ad(0xFF, b"\x4c\x00\x02\x15"), ErrorKind.NO_RUUVI_DATA),
        # company id big-endian by mistake
        (_ad(0xFF, b"\x04\x99" + bytes.fromhex(VALID_HEX)), ErrorKind.NO_RUUVI_DATA),
        # structure longer than the data
        (bytes.fromhex(GATEWAY["data"])[:-1], ErrorKind.BAD_ADVERTISEMENT),
        (b"\x1b\xff\x99\x04\x05", ErrorKind.BAD_ADVERTISEMENT),
        # Ruuvi data in format 4 (URL): not a measurement format
        (_ad(0xFF, b"\x99\x04\x04" + b"\x00" * 13), ErrorKind.UNKNOWN_FORMAT),
        # Ruuvi data in format 3 (RAWv1) one byte short
        (_ad(0xFF, b"\x99\x04\x03" + b"\x00" * 12), ErrorKind.WRONG_LENGTH),
        # Ruuvi format 5 data cut short
        (_ad(0xFF, b"\x99\x04" + bytes.fromhex(VALID_HEX)[:20]), ErrorKind.WRONG_LENGTH),
        (_ad(0xFF, b"\x99\x04"), ErrorKind.WRONG_LENGTH),
        (b"", ErrorKind.WRONG_LENGTH),
        # 24 bytes starting with 0x03 (Format 3 is 14 bytes) and not an advertisement
        (bytes.fromhex("03" + VALID_HEX[2:]), ErrorKind.WRONG_LENGTH),
        # 24 bytes starting with 0x07 (no such format) and not an advertisement
        (bytes.fromhex("07" + VALID_HEX[2:]), ErrorKind.BAD_ADVERTISEMENT),
    ],
)
def test_advertisement_errors(advertisement: bytes, kind: ErrorKind) -> None:
    with pytest.raises(RuuviCodecError) as info:
        decode_any(advertisement)
    assert info.value.kind is kind
    assert str(info.value)


@given(st.binary(max_size=80))
def test_decode_any_raises_only_codec_errors(data: bytes) -> None:
    try:
        reading = decode_any(data)
    except RuuviCodecError as exc:
        assert exc.message
    else:
        assert reading.data_format in {3, 5, 6, 0xE1}


@given(
    st.lists(
        st.tuples(st.integers(0, 0xFE), st.binary(max_size=30)).map(lambda t: _ad(*t)),
        max_size=4,
    ),
    st.integers(0, 4),
)
def test_ruuvi_data_is_found_wherever_it_sits(others: list[bytes], position: int) -> None:
    others = [o for o in others if not (o[1] == 0xFF and o[2:4] == b"\x99\x04")]
    structures = [*others]
    structures.insert(min(position, len(structures)), _ruuvi_ad(VALID_HEX))
    assert decode_any(b"".join(structures)) == decode_hex(VALID_HEX)
