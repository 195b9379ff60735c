"""Finding Ruuvi's manufacturer data inside a whole BLE advertisement (pure, no I/O).

An advertisement is a run of AD structures ``[length][type][length - 1 data bytes]``; a length
byte of 0 ends the significant part (the rest is padding). Manufacturer-specific data has type
0xFF and starts with the company id, little-endian: Ruuvi Innovations is 0x0499, on the wire
``99 04``. The official Ruuvi Gateway reports advertisements like this in its MQTT ``data`` field,
e.g. ``0201061BFF9904 05...`` (flags, then 27 bytes of manufacturer data).

The first payload byte names the data format; :func:`decode_payload` dispatches on it to the
format's module: 3 (RAWv1), 5 (RAWv2), 6 and 0xE1 (Ruuvi Air).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final, TypeAlias

from iot_pipeline.ruuvi import format3, format5, format6, formate1
from iot_pipeline.ruuvi.common import ErrorKind, RuuviCodecError, parse_hex
from iot_pipeline.ruuvi.format5 import RuuviReading
from iot_pipeline.ruuvi.format6 import Format6Reading
from iot_pipeline.ruuvi.formate1 import FormatE1Reading

AnyReading: TypeAlias = RuuviReading | Format6Reading | FormatE1Reading

RUUVI_COMPANY_ID: Final = 0x0499
AD_TYPE_MANUFACTURER_DATA: Final = 0xFF

# data format byte -> (payload length, decoder)
DECODERS: Final[dict[int, tuple[int, Callable[[bytes], AnyReading]]]] = {
    format3.DATA_FORMAT: (format3.PAYLOAD_LENGTH, format3.decode),
    format5.DATA_FORMAT: (format5.PAYLOAD_LENGTH, format5.decode),
    format6.DATA_FORMAT: (format6.PAYLOAD_LENGTH, format6.decode),
    formate1.DATA_FORMAT: (formate1.PAYLOAD_LENGTH, formate1.decode),
}
FORMAT_NAMES: Final = {3: "3", 5: "5", 6: "6", 0xE1: "E1"}


def payload_length(data_format: int) -> int | None:
    """The payload length of a supported data format, None for any other format byte."""
    entry = DECODERS.get(data_format)
    return None if entry is None else entry[0]


def decode_payload(payload: bytes) -> AnyReading:
    """Decode a manufacturer payload of any supported format (its first byte names it)."""
    if not payload:
        raise RuuviCodecError(ErrorKind.WRONG_LENGTH, "empty payload")
    entry = DECODERS.get(payload[0])
    if entry is None:
        raise RuuviCodecError(
            ErrorKind.UNKNOWN_FORMAT,
            f"unsupported data format {payload[0]} (0x{payload[0]:02X}): formats 3, 5, 6 and "
            "E1 are decoded",
        )
    return entry[1](payload)


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


def decode_any(data: bytes) -> AnyReading:
    """Decode either a bare payload of a supported format or a whole advertisement holding one.

    Rule (shared with the C decoder): bytes whose length is the payload length of the format
    named by their first byte are a payload; anything else is parsed as an advertisement and the
    Ruuvi manufacturer data found in it is decoded.
    """
    if not data:
        raise RuuviCodecError(ErrorKind.WRONG_LENGTH, "empty input")
    length = payload_length(data[0])
    if length == len(data):
        return decode_payload(data)
    try:
        payload = find_ruuvi_manufacturer_data(data)
    except RuuviCodecError as exc:
        named = (
            f"a Format {FORMAT_NAMES[data[0]]} payload has {length} bytes, got {len(data)}"
            if length is not None
            else f"format byte 0x{data[0]:02X} is not a supported data format"
        )
        raise RuuviCodecError(
            ErrorKind.WRONG_LENGTH if length is not None else exc.kind,
            f"not a payload ({named}) and not an advertisement with Ruuvi data: {exc.message}",
        ) from None
    if not payload:
        raise RuuviCodecError(ErrorKind.WRONG_LENGTH, "Ruuvi manufacturer data is empty")
    return decode_payload(payload)


def decode_any_hex(text: str) -> AnyReading:
    """``decode_any`` for hex text."""
    return decode_any(parse_hex(text))
