"""Ruuvi Air Data Format E1 (Extended v1) codec: pure functions, no I/O.

Sent over Bluetooth 5 extended advertising; it extends Format 6, and a receiver hearing a tag in
both keeps E1 (``preference.py``). The payload is the 40 bytes of manufacturer data after Ruuvi's
company id (0x0499):

=======  =====  ====================================================  =============
offset   size   field                                                 not available
=======  =====  ====================================================  =============
0        1      data format (0xE1)
1        2      temperature, int16, 0.005 degC                        0x8000
3        2      humidity, uint16, 0.0025 %RH                          0xFFFF
5        2      pressure, uint16, Pa offset by -50000                 0xFFFF
7        8      PM1.0, PM2.5, PM4.0, PM10.0, uint16 each, 0.1 ug/m3   0xFFFF
15       2      CO2, uint16, ppm                                      0xFFFF
17       1      VOC index, bits 8..1 (bit 0 is flags bit 6)           0x1FF (9 bit)
18       1      NOx index, bits 8..1 (bit 0 is flags bit 7)           0x1FF (9 bit)
19       3      luminosity, uint24, 0.01 lux                          0xFFFFFF
22       3      reserved
25       3      measurement sequence, uint24                          0xFFFFFF
28       1      flags: bit 0 calibration in progress, bit 6/7 VOC/NOx LSB
29       5      reserved
34       6      MAC address                                           FF:FF:FF:FF:FF:FF
=======  =====  ====================================================  =============

Big-endian. Numeric convention as Format 5: one correctly rounded division of exact integers
(temperature raw * 5 / 1000, humidity raw * 25 / 10000, PM raw / 10, luminosity raw / 100).
"""

from __future__ import annotations

import struct
from dataclasses import asdict, dataclass
from typing import Any, Final

from iot_pipeline.ruuvi.common import (
    ErrorKind,
    RuuviCodecError,
    check_payload,
    checked_int,
    decode_mac,
    encode_mac,
    optional,
    parse_hex,
    scaled,
)
from iot_pipeline.ruuvi.format6 import (
    decode_common,
    decode_pm,
    encode_common,
    encode_flags,
    encode_index,
    encode_pm,
)

DATA_FORMAT: Final = 0xE1
PAYLOAD_LENGTH: Final = 40

_U24_NA: Final = 0xFFFFFF

MEASUREMENT_SEQUENCE_RANGE: Final = (0, 16_777_214)
LUMINOSITY_RANGE: Final = (0.0, 167_772.14)

# format, temperature, humidity, pressure, pm1.0, pm2.5, pm4.0, pm10, co2, voc, nox,
# luminosity, reserved, sequence, flags, reserved, mac
_LAYOUT: Final = struct.Struct(">BhHHHHHHHBB3s3s3sB5s6s")
_RESERVED_3: Final = b"\xff" * 3
_RESERVED_5: Final = b"\xff" * 5


@dataclass(frozen=True, slots=True)
class FormatE1Reading:
    """One decoded E1 measurement; ``None`` where the tag reported "not available".

    Units: temperature degC, humidity %RH, pressure Pa, pm* ug/m3, co2 ppm, voc/nox index
    (unitless), luminosity lux; mac upper-case ``AA:BB:CC:DD:EE:FF``.
    """

    data_format: int
    temperature: float | None
    humidity: float | None
    pressure: int | None
    pm1_0: float | None
    pm2_5: float | None
    pm4_0: float | None
    pm10_0: float | None
    co2: int | None
    voc_index: int | None
    nox_index: int | None
    luminosity: float | None
    measurement_sequence: int | None
    calibration_in_progress: bool
    mac: str | None

    def to_dict(self) -> dict[str, Any]:
        """The reading as a JSON-ready dict, keys in the contract's (``ruuvi-decode``) order."""
        return asdict(self)


def _u24(raw: bytes) -> int | None:
    value = int.from_bytes(raw, "big")
    return None if value == _U24_NA else value


def decode(payload: bytes) -> FormatE1Reading:
    """Decode the 40-byte E1 manufacturer payload (first byte 0xE1)."""
    check_payload(payload, DATA_FORMAT, PAYLOAD_LENGTH, "Format E1")
    (_, t, h, p, pm1, pm25, pm4, pm10, co2, voc, nox, lux, _r1, seq, flags, _r2, mac) = (
        _LAYOUT.unpack(payload)
    )
    lux_raw = _u24(lux)
    return FormatE1Reading(
        data_format=DATA_FORMAT,
        **decode_common(t, h, p, co2, voc, nox, flags),
        pm1_0=decode_pm(pm1),
        pm2_5=decode_pm(pm25),
        pm4_0=decode_pm(pm4),
        pm10_0=decode_pm(pm10),
        luminosity=None if lux_raw is None else lux_raw / 100,
        measurement_sequence=_u24(seq),
        mac=decode_mac(mac),
    )


def decode_hex(text: str) -> FormatE1Reading:
    """Decode an E1 payload given as hex text."""
    return decode(parse_hex(text))


def encode(reading: FormatE1Reading) -> bytes:
    """The 40-byte E1 payload for ``reading`` (``None`` fields become the not-available values;
    reserved bytes are 0xFF, reserved flag bits 0). Values are rounded to the format's
    resolution; a value out of range, a not-available value given explicitly or a wrong type
    raises RuuviCodecError."""
    if reading.data_format != DATA_FORMAT:
        raise RuuviCodecError(
            ErrorKind.UNKNOWN_FORMAT,
            f"can only encode data format E1 (225), got {reading.data_format!r}",
        )
    t, h, p, co2 = encode_common(reading)
    voc = encode_index("voc_index", reading.voc_index)
    nox = encode_index("nox_index", reading.nox_index)
    lux = optional(
        reading.luminosity, lambda v: scaled("luminosity", v, 100, 0, 16_777_214), _U24_NA
    )
    seq = optional(
        reading.measurement_sequence,
        lambda v: checked_int("measurement_sequence", v, *MEASUREMENT_SEQUENCE_RANGE),
        _U24_NA,
    )
    flags = encode_flags(reading.calibration_in_progress, voc, nox)
    mac = encode_mac(reading.mac, 6)
    pms = [
        encode_pm(name, getattr(reading, name)) for name in ("pm1_0", "pm2_5", "pm4_0", "pm10_0")
    ]
    return _LAYOUT.pack(
        DATA_FORMAT,
        t,
        h,
        p,
        *pms,
        co2,
        voc >> 1,
        nox >> 1,
        lux.to_bytes(3, "big"),
        _RESERVED_3,
        seq.to_bytes(3, "big"),
        flags,
        _RESERVED_5,
        mac,
    )


def encode_hex(reading: FormatE1Reading) -> str:
    """``encode`` as upper-case hex."""
    return encode(reading).hex().upper()
