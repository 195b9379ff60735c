"""RuuviTag Data Format 3 (RAWv1) codec: pure functions, no I/O. Deprecated by Ruuvi in favour of
Format 5, still sent by tags on old firmware.

The payload is the 14 bytes of manufacturer data after Ruuvi's company id (0x0499):

=======  =====  ==========================================================
offset   size   field
=======  =====  ==========================================================
0        1      data format (3)
1        1      humidity, uint8, 0.5 %RH
2        1      temperature, integer part: sign bit + 7-bit magnitude
3        1      temperature, hundredths (0..99 in the spec)
4        2      pressure, uint16, Pa offset by -50000
6        6      acceleration x, y, z, int16 each, mg
12       2      battery, uint16, mV
=======  =====  ==========================================================

Big-endian. The format has no "not available" values (the spec: "there is no specific value for
invalid/not available sensor readings"), no tx power, movement counter, measurement sequence or
MAC: a Format 3 reading is a :class:`RuuviReading` with those fields ``None``, its tag identified
by the BLE address only. Every byte decodes arithmetically, as Ruuvi's vectors and the firmware
do (e.g. a hundredths byte above 99 still adds its value). Numeric convention as Format 5: one
correctly rounded division of exact integers (temperature = signed hundredths / 100,
humidity = raw / 2, acceleration = raw / 1000, battery = raw / 1000, pressure int Pa).
"""

from __future__ import annotations

import struct
from typing import Final

from iot_pipeline.ruuvi.common import (
    ErrorKind,
    RuuviCodecError,
    check_payload,
    checked_int,
    parse_hex,
    scaled,
)
from iot_pipeline.ruuvi.format5 import RuuviReading

DATA_FORMAT: Final = 3
PAYLOAD_LENGTH: Final = 14

TEMPERATURE_RANGE: Final = (-127.99, 127.99)
HUMIDITY_RANGE: Final = (0.0, 127.5)
PRESSURE_RANGE: Final = (50000, 115535)
ACCELERATION_RANGE: Final = (-32.768, 32.767)
BATTERY_RANGE: Final = (0.0, 65.535)

# format, humidity, temperature integer (sign-magnitude), hundredths, pressure, x, y, z, battery
_LAYOUT: Final = struct.Struct(">BBBBHhhhH")


def decode(payload: bytes) -> RuuviReading:
    """Decode the 14-byte Format 3 manufacturer payload (first byte 0x03)."""
    check_payload(payload, DATA_FORMAT, PAYLOAD_LENGTH, "Format 3 (RAWv1)")
    _, h, t_int, t_frac, p, ax, ay, az, battery = _LAYOUT.unpack(payload)
    centi = (t_int & 0x7F) * 100 + t_frac
    if t_int & 0x80:
        centi = -centi
    return RuuviReading(
        data_format=DATA_FORMAT,
        temperature=centi / 100,
        humidity=h / 2,
        pressure=p + 50000,
        acceleration_x=ax / 1000,
        acceleration_y=ay / 1000,
        acceleration_z=az / 1000,
        tx_power=None,
        battery=battery / 1000,
        movement_counter=None,
        measurement_sequence=None,
        mac=None,
    )


def decode_hex(text: str) -> RuuviReading:
    """Decode a Format 3 payload given as hex text."""
    return decode(parse_hex(text))


def _required(name: str, value: object) -> object:
    if value is None:
        raise RuuviCodecError(
            ErrorKind.BAD_VALUE,
            f"{name} is required: Format 3 has no 'not available' value",
        )
    return value


def encode(reading: RuuviReading) -> bytes:
    """The 14-byte Format 3 payload for ``reading``. Every measured field is required (the
    format cannot say "not available"); tx_power, movement_counter, measurement_sequence and
    mac must be None (the format cannot carry them). Values are rounded to the format's
    resolution; out-of-range values or wrong types raise RuuviCodecError."""
    if reading.data_format != DATA_FORMAT:
        raise RuuviCodecError(
            ErrorKind.UNKNOWN_FORMAT, f"can only encode data format 3, got {reading.data_format!r}"
        )
    for name in ("tx_power", "movement_counter", "measurement_sequence", "mac"):
        if getattr(reading, name) is not None:
            raise RuuviCodecError(ErrorKind.BAD_VALUE, f"Format 3 cannot carry {name}; pass None")
    centi = scaled("temperature", _required("temperature", reading.temperature), 100, -12799, 12799)
    magnitude = abs(centi)
    t_int = (magnitude // 100) | (0x80 if centi < 0 else 0)
    humidity = scaled("humidity", _required("humidity", reading.humidity), 2, 0, 255)
    pressure = checked_int("pressure", _required("pressure", reading.pressure), *PRESSURE_RANGE)
    accel = [
        scaled(name, _required(name, getattr(reading, name)), 1000, -32768, 32767)
        for name in ("acceleration_x", "acceleration_y", "acceleration_z")
    ]
    battery = scaled("battery", _required("battery", reading.battery), 1000, 0, 65535)
    return _LAYOUT.pack(
        DATA_FORMAT, humidity, t_int, magnitude % 100, pressure - 50000, *accel, battery
    )


def encode_hex(reading: RuuviReading) -> str:
    """``encode`` as upper-case hex."""
    return encode(reading).hex().upper()
