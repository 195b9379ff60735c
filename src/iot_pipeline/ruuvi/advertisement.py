"""Finding Ruuvi's manufacturer data inside a whole BLE advertisement (pure, no I/O).

An advertisement is a run of AD structures ``[length][type][length - 1 data bytes]``; a length
byte of 0 ends the significant part (the rest is padding). Manufacturer-specific data has type
0xFF and starts with the company id, little-endian: Ruuvi Innovations is 0x0499, on the wire
``99 04``. The official Ruuvi Gateway reports advertisements like this in its MQTT ``data`` field,
e.g. ``0201061BFF9904 05...`` (flags, then 27 bytes of manufacturer data).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from iot_pipeline.ruuvi.format5 import (
    DATA_FORMAT,
    PAYLOAD_LENGTH,
    ErrorKind,
    RuuviCodecError,
    RuuviReading,
    decode,
    parse_hex,
)

RUUVI_COMPANY_ID: Final = 0x0499
AD_TYPE_MANUFACTURER_DATA: Final = 0xFF


def iter_ad_structures(advertisement: bytes) -> Iterator[tuple[int, bytes]]:
    """Yield ``(ad_type, data)`` for each AD structure; RuuviCodecError if one overruns the end."""
    i = 0
    n = len(advertisement)
    while i < n:
        length = advertisement[i]
        if length == 0:
            return
        end = i + 1 + length
        if end > n:
            raise RuuviCodecError(
                ErrorKind.BAD_ADVERTISEMENT,
                f"malformed advertisement: AD structure at byte {i} declares {length} bytes "
                f"but only {n - i - 1} follow",
            )
        yield advertisement[i + 1], advertisement[i + 2 : end]
        i = end


def find_ruuvi_manufacturer_data(advertisement: bytes) -> bytes:
    """The manufacturer payload after Ruuvi's company id (for Format 5: the 24-byte payload).

    Raises RuuviCodecError when the advertisement is malformed or carries no Ruuvi data.
    """
    for ad_type, data in iter_ad_structures(advertisement):
        if (
            ad_type == AD_TYPE_MANUFACTURER_DATA
            and len(data) >= 2
            and int.from_bytes(data[:2], "little") == RUUVI_COMPANY_ID
        ):
            return data[2:]
    raise RuuviCodecError(
        ErrorKind.NO_RUUVI_DATA,
        "no Ruuvi manufacturer data (type 0xFF, company id 0x0499) in the advertisement",
    )


def decode_any(data: bytes) -> RuuviReading:
    """Decode either a bare 24-byte Format 5 payload or a whole advertisement holding one.

    Rule (shared with the C decoder): 24 bytes starting with 0x05 are a payload; anything else
    is parsed as an advertisement and the Ruuvi manufacturer data found in it is decoded.
    """
    if len(data) == PAYLOAD_LENGTH and data[0] == DATA_FORMAT:
        return decode(data)
    if not data:
        raise RuuviCodecError(ErrorKind.WRONG_LENGTH, "empty input")
    try:
        payload = find_ruuvi_manufacturer_data(data)
    except RuuviCodecError as exc:
        raise RuuviCodecError(
            exc.kind,
            f"not a {PAYLOAD_LENGTH}-byte Format 5 payload ({len(data)} bytes"
            f"{'' if len(data) != PAYLOAD_LENGTH else f', format byte 0x{data[0]:02X}'})"
            f" and not an advertisement with Ruuvi data: {exc.message}",
        ) from None
    if not payload:
        raise RuuviCodecError(ErrorKind.WRONG_LENGTH, "Ruuvi manufacturer data is empty")
    return decode(payload)


def decode_any_hex(text: str) -> RuuviReading:
    """``decode_any`` for hex text."""
    return decode_any(parse_hex(text))
