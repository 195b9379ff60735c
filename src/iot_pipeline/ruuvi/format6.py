"""Ruuvi Air Data Format 6 codec: pure functions, no I/O.

The Bluetooth 4 (legacy advertising) format of Ruuvi Air; a receiver that also hears the tag's
E1 advertisements keeps E1 and drops Format 6 (``preference.py``). The payload is the 20 bytes of
manufacturer data after Ruuvi's company id (0x0499):

=======  =====  ====================================================  =============
offset   size   field                                                 not available
=======  =====  ====================================================  =============
0        1      data format (6)
1        2      temperature, int16, 0.005 degC                        0x8000
3        2      humidity, uint16, 0.0025 %RH                          0xFFFF
5        2      pressure, uint16, Pa offset by -50000                 0xFFFF
7        2      PM2.5, uint16, 0.1 ug/m3                              0xFFFF
9        2      CO2, uint16, ppm                                      0xFFFF
11       1      VOC index, bits 8..1 (bit 0 is flags bit 6)           0x1FF (9 bit)
12       1      NOx index, bits 8..1 (bit 0 is flags bit 7)           0x1FF (9 bit)
13       1      luminosity, logarithmic code 0..254                   255
14       1      reserved
15       1      measurement sequence, uint8 (low byte of E1's)        none
16       1      flags: bit 0 calibration in progress, bit 6/7 VOC/NOx LSB
17       3      the MAC address's 3 least significant bytes           FF:FF:FF
=======  =====  ====================================================  =============

Big-endian. Luminosity: value = exp(code * ln(65536) / 254) - 1 lux, rounded to 0.01 lux (the
spec's precision; half away from zero, as the firmware's llround), so libm differences in the
last bit of exp() cannot change a decoded value. Other values follow the Format 5 convention:
one correctly rounded division of exact integers (temperature raw * 5 / 1000, humidity
raw * 25 / 10000, PM raw / 10). The tag's full address comes from the BLE address (or the
gateway's topic); ``mac`` here is only ``AA:BB:CC``.
"""

from __future__ import annotations

import math
import struct
from dataclasses import asdict, dataclass
from typing import Any, Final, TypedDict

from iot_pipeline.ruuvi.common import (
    ErrorKind,
    RuuviCodecError,
    check_payload,
    checked_int,
    decode_mac,
    encode_mac,
    integer,
    number,
    optional,
    parse_hex,
    round_half_away,
    scaled,
)

DATA_FORMAT: Final = 6
PAYLOAD_LENGTH: Final = 20

_I16_NA: Final = -32768
_U16_NA: Final = 0xFFFF
_INDEX_NA: Final = 0x1FF
_LUX_CODE_NA: Final = 0xFF
_RESERVED: Final = 0xFF

LUX_MAX: Final = 65535.0
_LUX_MAX_CODE: Final = 254
_LUX_DELTA: Final = math.log(LUX_MAX + 1) / _LUX_MAX_CODE
# Decoded luminosity of every valid code, rounded to 0.01 lux.
LUX_TABLE: Final = tuple(
    round_half_away((math.exp(code * _LUX_DELTA) - 1) * 100) / 100
    for code in range(_LUX_MAX_CODE + 1)
)

INDEX_RANGE: Final = (0, 510)

# format, temperature, humidity, pressure, pm2.5, co2, voc, nox, lux, reserved, seq, flags, mac
_LAYOUT: Final = struct.Struct(">BhHHHHBBBBBB3s")


@dataclass(frozen=True, slots=True)
class Format6Reading:
    """One decoded Format 6 measurement; ``None`` where the tag reported "not available".

    Units: temperature degC, humidity %RH, pressure Pa, pm2_5 ug/m3, co2 ppm, voc/nox index
    (unitless), luminosity lux; mac the low 3 bytes ``AA:BB:CC``.
    """

    data_format: int
    temperature: float | None
    humidity: float | None
    pressure: int | None
    pm2_5: float | None
    co2: int | None
    voc_index: int | None
    nox_index: int | None
    luminosity: float | None
    measurement_sequence: int
    calibration_in_progress: bool
    mac: str | None

    def to_dict(self) -> dict[str, Any]:
        """The reading as a JSON-ready dict, keys in the contract's (``ruuvi-decode``) order."""
        return asdict(self)


def decode_index(high: int, flags: int, bit: int) -> int | None:
    """A 9-bit VOC/NOx index: bits 8..1 in ``high``, bit 0 in flags bit ``bit``."""
    raw = (high << 1) | ((flags >> bit) & 1)
    return None if raw == _INDEX_NA else raw


def decode_pm(raw: int) -> float | None:
    """A PM raw value (0.1 ug/m3 steps) in ug/m3; None for "not available"."""
    return None if raw == _U16_NA else raw / 10


class AirCommon(TypedDict):
    """The fields Formats 6 and E1 encode alike."""

    temperature: float | None
    humidity: float | None
    pressure: int | None
    co2: int | None
    voc_index: int | None
    nox_index: int | None
    calibration_in_progress: bool


def decode_common(t: int, h: int, p: int, co2: int, voc: int, nox: int, flags: int) -> AirCommon:
    """The raw values Formats 6 and E1 share, decoded (None for each not-available value):
    ``encode_common``'s inverse, with the VOC/NOx indexes and the calibration flag."""
    return {
        "temperature": None if t == _I16_NA else t * 5 / 1000,
        "humidity": None if h == _U16_NA else h * 25 / 10000,
        "pressure": None if p == _U16_NA else p + 50000,
        "co2": None if co2 == _U16_NA else co2,
        "voc_index": decode_index(voc, flags, 6),
        "nox_index": decode_index(nox, flags, 7),
        "calibration_in_progress": bool(flags & 1),
    }


def decode(payload: bytes) -> Format6Reading:
    """Decode the 20-byte Format 6 manufacturer payload (first byte 0x06)."""
    check_payload(payload, DATA_FORMAT, PAYLOAD_LENGTH, "Format 6")
    _, t, h, p, pm25, co2, voc, nox, lux, _reserved, seq, flags, mac = _LAYOUT.unpack(payload)
    return Format6Reading(
        data_format=DATA_FORMAT,
        **decode_common(t, h, p, co2, voc, nox, flags),
        pm2_5=decode_pm(pm25),
        luminosity=None if lux == _LUX_CODE_NA else LUX_TABLE[lux],
        measurement_sequence=seq,
        mac=decode_mac(mac),
    )


def decode_hex(text: str) -> Format6Reading:
    """Decode a Format 6 payload given as hex text."""
    return decode(parse_hex(text))


# --- encoding --------------------------------------------------------------------------------


def encode_luminosity(value: object) -> int:
    """Lux into the logarithmic code: round(ln(value + 1) / delta), value in [0, 65535]."""
    lux = number("luminosity", value)
    if not 0 <= lux <= LUX_MAX:
        raise RuuviCodecError(
            ErrorKind.OUT_OF_RANGE, f"luminosity {value} is out of range [0, {LUX_MAX}]"
        )
    return min(_LUX_MAX_CODE, round_half_away(math.log(lux + 1) / _LUX_DELTA))


def encode_index(name: str, value: object) -> int:
    """A VOC/NOx index into its 9-bit raw value (0..510; 511 is "not available")."""
    return _INDEX_NA if value is None else checked_int(name, value, *INDEX_RANGE)


def encode_flags(calibration: object, voc: int, nox: int) -> int:
    """The flags byte: calibration in bit 0, the indexes' low bits in bits 6 and 7."""
    if not isinstance(calibration, bool):
        raise RuuviCodecError(
            ErrorKind.BAD_VALUE,
            f"calibration_in_progress must be a bool, got {type(calibration).__name__}",
        )
    return int(calibration) | ((voc & 1) << 6) | ((nox & 1) << 7)


def encode_pm(name: str, value: object) -> int:
    return optional(value, lambda v: scaled(name, v, 10, 0, 65534), _U16_NA)


def encode_common(reading: Any) -> tuple[int, int, int, int]:
    """Temperature, humidity, pressure and CO2 raw values (shared by Formats 6 and E1)."""
    t = optional(
        reading.temperature, lambda v: scaled("temperature", v, 200, -32767, 32767), _I16_NA
    )
    h = optional(reading.humidity, lambda v: scaled("humidity", v, 400, 0, 65534), _U16_NA)
    p = optional(
        reading.pressure, lambda v: checked_int("pressure", v, 50000, 115534) - 50000, _U16_NA
    )
    co2 = optional(reading.co2, lambda v: checked_int("co2", v, 0, 65534), _U16_NA)
    return t, h, p, co2


def encode(reading: Format6Reading) -> bytes:
    """The 20-byte Format 6 payload for ``reading`` (``None`` fields become the not-available
    values; the reserved byte is 0xFF). Values are rounded to the format's resolution; a value
    out of range, a not-available value given explicitly or a wrong type raises
    RuuviCodecError."""
    if reading.data_format != DATA_FORMAT:
        raise RuuviCodecError(
            ErrorKind.UNKNOWN_FORMAT, f"can only encode data format 6, got {reading.data_format!r}"
        )
    t, h, p, co2 = encode_common(reading)
    voc = encode_index("voc_index", reading.voc_index)
    nox = encode_index("nox_index", reading.nox_index)
    lux = optional(reading.luminosity, encode_luminosity, _LUX_CODE_NA)
    seq = checked_int(
        "measurement_sequence",
        integer("measurement_sequence", reading.measurement_sequence),
        0,
        255,
    )
    flags = encode_flags(reading.calibration_in_progress, voc, nox)
    mac = encode_mac(reading.mac, 3)
    pm25 = encode_pm("pm2_5", reading.pm2_5)
    return _LAYOUT.pack(
        DATA_FORMAT, t, h, p, pm25, co2, voc >> 1, nox >> 1, lux, _RESERVED, seq, flags, mac
    )


def encode_hex(reading: Format6Reading) -> str:
    """``encode`` as upper-case hex."""
    return encode(reading).hex().upper()
