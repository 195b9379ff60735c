"""What every Ruuvi data-format module shares (pure, no I/O): the codec's one error type, hex and
MAC text, and the range-checked conversions the encoders use."""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import StrEnum
from typing import Any, Final


class ErrorKind(StrEnum):
    """Why the codec refused an input (machine-readable; the message says it for people)."""

    BAD_HEX = "bad_hex"
    WRONG_LENGTH = "wrong_length"
    UNKNOWN_FORMAT = "unknown_format"
    NO_RUUVI_DATA = "no_ruuvi_data"
    BAD_ADVERTISEMENT = "bad_advertisement"
    OUT_OF_RANGE = "out_of_range"
    BAD_VALUE = "bad_value"


class RuuviCodecError(ValueError):
    """The one error the codec raises: a readable message plus a machine-readable ``kind``."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def format_mac(raw: bytes) -> str:
    """Six bytes as upper-case ``AA:BB:CC:DD:EE:FF``."""
    return raw.hex(":").upper()


def parse_mac(mac: str) -> bytes:
    """``AA:BB:CC:DD:EE:FF`` (either case) into six bytes; RuuviCodecError otherwise."""
    return parse_short_mac(mac, 6)


_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")
_ASCII_WHITESPACE: Final = " \t\r\n\v\f"


def _is_hex(text: str) -> bool:
    return _HEX_DIGITS.issuperset(text)


def parse_hex(text: str) -> bytes:
    """Hex text into bytes: surrounding ASCII whitespace ignored, then an even, non-zero number
    of hex digits (either case) and nothing else."""
    stripped = text.strip(_ASCII_WHITESPACE)
    if not stripped:
        raise RuuviCodecError(ErrorKind.BAD_HEX, "empty input: expected hex digits")
    if not _is_hex(stripped):
        raise RuuviCodecError(ErrorKind.BAD_HEX, "invalid hex: only 0-9, a-f and A-F allowed")
    if len(stripped) % 2:
        raise RuuviCodecError(
            ErrorKind.BAD_HEX, f"invalid hex: odd number of digits ({len(stripped)})"
        )
    return bytes.fromhex(stripped)


def number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RuuviCodecError(
            ErrorKind.BAD_VALUE, f"{name} must be a number or None, got {type(value).__name__}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise RuuviCodecError(ErrorKind.OUT_OF_RANGE, f"{name} must be finite, got {value}")
    return value


def integer(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RuuviCodecError(
            ErrorKind.BAD_VALUE, f"{name} must be an int or None, got {type(value).__name__}"
        )
    return value


def scaled(name: str, value: object, scale: int, low: int, high: int) -> int:
    """A physical value into its raw integer at ``scale`` steps per unit, range-checked."""
    raw = round(number(name, value) * scale)
    if not low <= raw <= high:
        raise RuuviCodecError(
            ErrorKind.OUT_OF_RANGE,
            f"{name} {value} is out of range [{low / scale}, {high / scale}]",
        )
    return raw


def checked_int(name: str, value: object, low: int, high: int) -> int:
    raw = integer(name, value)
    if not low <= raw <= high:
        raise RuuviCodecError(
            ErrorKind.OUT_OF_RANGE, f"{name} {raw} is out of range [{low}, {high}]"
        )
    return raw


def round_half_away(value: float) -> int:
    """Nearest integer, halves away from zero (C's llround; Python's round() goes to even)."""
    floor = math.floor(abs(value))
    magnitude = floor + 1 if abs(value) - floor >= 0.5 else floor
    return magnitude if value >= 0 else -magnitude


def optional(value: Any, convert: Callable[[Any], int], not_available: int) -> int:
    """``convert(value)``, or the format's not-available raw value for None."""
    if value is None:
        return not_available
    return convert(value)


def parse_short_mac(mac: str, octets: int) -> bytes:
    """``AA:BB:CC`` (``octets`` hex pairs, either case) into bytes; RuuviCodecError otherwise."""
    parts = mac.split(":") if isinstance(mac, str) else []
    if len(parts) != octets or not all(len(p) == 2 and _is_hex(p) for p in parts):
        example = ":".join(["AA", "BB", "CC", "DD", "EE", "FF"][:octets])
        raise RuuviCodecError(ErrorKind.BAD_VALUE, f"mac must look like {example}, got {mac!r}")
    return bytes(int(p, 16) for p in parts)


def check_payload(payload: bytes, data_format: int, length: int, name: str) -> None:
    """RuuviCodecError unless ``payload`` is ``length`` bytes starting with ``data_format``."""
    if len(payload) == 0:
        raise RuuviCodecError(ErrorKind.WRONG_LENGTH, "empty payload")
    if payload[0] != data_format:
        raise RuuviCodecError(
            ErrorKind.UNKNOWN_FORMAT,
            f"data format {payload[0]} (0x{payload[0]:02X}) is not {name}",
        )
    if len(payload) != length:
        raise RuuviCodecError(
            ErrorKind.WRONG_LENGTH,
            f"wrong length: a {name} payload has {length} bytes, got {len(payload)}",
        )


def decode_mac(raw: bytes) -> str | None:
    """The MAC bytes a payload carries as text; None for the not-available value (all ones)."""
    return None if raw == b"\xff" * len(raw) else format_mac(raw)


def encode_mac(mac: str | None, octets: int) -> bytes:
    """A MAC (``octets`` bytes, as text) for an encoder; None gives the not-available value
    (all ones), which given explicitly is refused: pass None instead."""
    not_available = b"\xff" * octets
    if mac is None:
        return not_available
    raw = parse_short_mac(mac, octets)
    if raw == not_available:
        raise RuuviCodecError(
            ErrorKind.OUT_OF_RANGE,
            f"mac {format_mac(raw)} is the not-available value; pass None instead",
        )
    return raw
