"""RuuviTag Data Format 5 (RAWv2) codec: pure functions, no I/O.

The payload is the 24 bytes of BLE manufacturer data that follow Ruuvi's company id (0x0499):

=======  =====  ==================================================  =====================
offset   size   field                                               not available
=======  =====  ==================================================  =====================
0        1      data format (5)
1        2      temperature, int16, 0.005 degC                      0x8000
3        2      humidity, uint16, 0.0025 %RH                        0xFFFF
5        2      pressure, uint16, Pa offset by -50000               0xFFFF
7        6      acceleration x, y, z, int16 each, mg                0x8000
13       2      power info: battery 11 bits (mV above 1600),        battery 2047,
                tx power 5 bits (2 dBm steps above -40 dBm)         tx power 31
15       1      movement counter, uint8                             255
16       2      measurement sequence, uint16                        65535
18       6      MAC address                                         FF:FF:FF:FF:FF:FF
=======  =====  ==================================================  =====================

All multi-byte fields are big-endian. Physical values are computed with ONE correctly rounded
division of exact integers (the project's contract, shared bit for bit with the C firmware
decoder): temperature = raw * 5 / 1000, humidity = raw * 25 / 10000, acceleration = raw / 1000,
battery = (1600 + raw) / 1000, pressure = raw + 50000 (int Pa), tx_power = -40 + 2 * raw (int).
Python's ``int / int`` is correctly rounded, so these expressions are exactly that.
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
    encode_mac,
    format_mac,
    parse_hex,
    scaled,
)

DATA_FORMAT: Final = 5
PAYLOAD_LENGTH: Final = 24

# Not-available sentinels of the raw integer fields.
_TEMPERATURE_NA: Final = -32768  # 0x8000 as int16
_HUMIDITY_NA: Final = 0xFFFF
_PRESSURE_NA: Final = 0xFFFF
_ACCELERATION_NA: Final = -32768
_BATTERY_NA: Final = 0x7FF
_TX_POWER_NA: Final = 0x1F
_MOVEMENT_NA: Final = 0xFF
_SEQUENCE_NA: Final = 0xFFFF
_MAC_NA: Final = b"\xff" * 6

# Physical ranges of valid values (inclusive), as the spec gives them.
TEMPERATURE_RANGE: Final = (-163.835, 163.835)
HUMIDITY_RANGE: Final = (0.0, 163.835)
PRESSURE_RANGE: Final = (50000, 115534)
ACCELERATION_RANGE: Final = (-32.767, 32.767)
BATTERY_RANGE: Final = (1.6, 3.646)
TX_POWER_RANGE: Final = (-40, 20)
MOVEMENT_COUNTER_RANGE: Final = (0, 254)
MEASUREMENT_SEQUENCE_RANGE: Final = (0, 65534)

FIELD_NAMES: Final = (
    "data_format",
    "temperature",
    "humidity",
    "pressure",
    "acceleration_x",
    "acceleration_y",
    "acceleration_z",
    "tx_power",
    "battery",
    "movement_counter",
    "measurement_sequence",
    "mac",
)


@dataclass(frozen=True, slots=True)
class RuuviReading:
    """One decoded Format 5 measurement; ``None`` where the tag reported "not available".
    Format 3 (RAWv1, ``format3.py``) decodes into the same type: it has no tx power, movement
    counter, sequence or MAC, so those are always ``None`` there.

    Units: temperature degC, humidity %RH, pressure Pa, acceleration g, tx_power dBm,
    battery V; mac upper-case ``AA:BB:CC:DD:EE:FF``.
    """

    data_format: int
    temperature: float | None
    humidity: float | None
    pressure: int | None
    acceleration_x: float | None
    acceleration_y: float | None
    acceleration_z: float | None
    tx_power: int | None
    battery: float | None
    movement_counter: int | None
    measurement_sequence: int | None
    mac: str | None

    def to_dict(self) -> dict[str, Any]:
        """The reading as a JSON-ready dict, keys in the contract's order."""
        return asdict(self)


# format, temperature, humidity, pressure, acceleration x/y/z, power, movement, sequence, MAC
_LAYOUT: Final = struct.Struct(">BhHHhhhHBH6s")


def decode(payload: bytes) -> RuuviReading:
    """Decode the 24-byte Format 5 manufacturer payload (first byte 0x05)."""
    check_payload(payload, DATA_FORMAT, PAYLOAD_LENGTH, "Format 5")
    _, t, h, p, ax, ay, az, power, movement, sequence, mac = _LAYOUT.unpack(payload)
    battery_raw = power >> 5
    tx_raw = power & 0x1F
    return RuuviReading(
        data_format=DATA_FORMAT,
        temperature=None if t == _TEMPERATURE_NA else t * 5 / 1000,
        humidity=None if h == _HUMIDITY_NA else h * 25 / 10000,
        pressure=None if p == _PRESSURE_NA else p + 50000,
        acceleration_x=None if ax == _ACCELERATION_NA else ax / 1000,
        acceleration_y=None if ay == _ACCELERATION_NA else ay / 1000,
        acceleration_z=None if az == _ACCELERATION_NA else az / 1000,
        tx_power=None if tx_raw == _TX_POWER_NA else -40 + 2 * tx_raw,
        battery=None if battery_raw == _BATTERY_NA else (1600 + battery_raw) / 1000,
        movement_counter=None if movement == _MOVEMENT_NA else movement,
        measurement_sequence=None if sequence == _SEQUENCE_NA else sequence,
        mac=None if mac == _MAC_NA else format_mac(mac),
    )


def decode_hex(text: str) -> RuuviReading:
    """Decode a Format 5 payload given as hex text."""
    return decode(parse_hex(text))


# --- encoding --------------------------------------------------------------------------------


def encode(reading: RuuviReading) -> bytes:
    """The 24-byte Format 5 payload for ``reading`` (``None`` fields become the not-available
    values). Values are rounded to the format's resolution; a value outside the format's range,
    a not-available value given explicitly (e.g. movement_counter 255) or a wrong type raises
    RuuviCodecError."""
    if reading.data_format != DATA_FORMAT:
        raise RuuviCodecError(
            ErrorKind.UNKNOWN_FORMAT, f"can only encode data format 5, got {reading.data_format!r}"
        )

    def opt(value: object, convert: Any, na: int) -> int:
        return na if value is None else convert(value)

    t = opt(reading.temperature, lambda v: scaled("temperature", v, 200, -32767, 32767), -32768)
    h = opt(reading.humidity, lambda v: scaled("humidity", v, 400, 0, 65534), _HUMIDITY_NA)
    p = opt(
        reading.pressure,
        lambda v: checked_int("pressure", v, *PRESSURE_RANGE) - 50000,
        _PRESSURE_NA,
    )
    accel = [
        opt(value, lambda v, n=name: scaled(n, v, 1000, -32767, 32767), _ACCELERATION_NA)
        for name, value in (
            ("acceleration_x", reading.acceleration_x),
            ("acceleration_y", reading.acceleration_y),
            ("acceleration_z", reading.acceleration_z),
        )
    ]
    battery = opt(
        reading.battery, lambda v: scaled("battery", v, 1000, 1600, 3646) - 1600, _BATTERY_NA
    )
    tx = opt(reading.tx_power, _encode_tx_power, _TX_POWER_NA)
    movement = opt(
        reading.movement_counter,
        lambda v: checked_int("movement_counter", v, *MOVEMENT_COUNTER_RANGE),
        _MOVEMENT_NA,
    )
    sequence = opt(
        reading.measurement_sequence,
        lambda v: checked_int("measurement_sequence", v, *MEASUREMENT_SEQUENCE_RANGE),
        _SEQUENCE_NA,
    )
    mac = encode_mac(reading.mac, 6)
    return b"".join(
        (
            bytes((DATA_FORMAT,)),
            t.to_bytes(2, "big", signed=True),
            h.to_bytes(2, "big"),
            p.to_bytes(2, "big"),
            *(a.to_bytes(2, "big", signed=True) for a in accel),
            ((battery << 5) | tx).to_bytes(2, "big"),
            bytes((movement,)),
            sequence.to_bytes(2, "big"),
            mac,
        )
    )


def _encode_tx_power(value: object) -> int:
    dbm = checked_int("tx_power", value, *TX_POWER_RANGE)
    if dbm % 2:
        raise RuuviCodecError(
            ErrorKind.OUT_OF_RANGE, f"tx_power {dbm} is not a step of the format (even dBm only)"
        )
    return (dbm + 40) // 2


def encode_hex(reading: RuuviReading) -> str:
    """``encode`` as upper-case hex."""
    return encode(reading).hex().upper()
