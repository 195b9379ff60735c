"""The official Ruuvi Gateway's *decoded* MQTT mode, read into the codec's readings (pure).

Gateway firmware with "MQTT data format" set to ``ruuvi_decoded`` (or ``ruuvi_raw_and_decoded``)
publishes, instead of (or beside) the raw advertisement in ``data``, fields it decoded itself
(ruuvi.gateway_esp.c, ``adv_decode.c``): ``dataFormat``, ``temperature``, ``humidity``,
``pressure`` (Pa), and per format

* 5: ``accelX``/``accelY``/``accelZ`` (g), ``movementCounter``, ``voltage`` (V), ``txPower``
  (dBm), ``measurementSequenceNumber``, ``id`` (the tag MAC);
* 6 and E1 (Ruuvi Air): ``PM1.0``, ``PM2.5``, ``PM4.0``, ``PM10.0`` (E1; 6 has PM2.5 only),
  ``CO2``, ``VOC``, ``NOx``, ``luminosity``, ``measurementSequenceNumber``,
  ``flag_calibration_in_progress`` (plus flags and sound fields this pipeline does not use),
  ``id`` (Format 6: the MAC's low 3 bytes).

The gateway rounds as it prints (Ruuvi Air temperature and humidity to 0.1, PM to 0.1, CO2, VOC,
NOx, luminosity and pressure to integers), so a decoded-mode reading equals the raw decoding
only to that precision. :func:`reading_from_decoded` maps such an object onto the codec's reading
type of its format and validates every value against the format's range by encoding it (the
encoder is the one place ranges live): a value out of range, of the wrong type or a missing
required key raises RuuviCodecError naming it. ``null`` or an absent measurement is "not
available". Unknown keys are ignored (the gateway adds fields across firmware versions).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from iot_pipeline.ruuvi import format5, format6, formate1
from iot_pipeline.ruuvi.advertisement import AnyReading
from iot_pipeline.ruuvi.common import ErrorKind, RuuviCodecError
from iot_pipeline.ruuvi.format5 import RuuviReading
from iot_pipeline.ruuvi.format6 import Format6Reading
from iot_pipeline.ruuvi.formate1 import FormatE1Reading

# gateway key -> reading field
_COMMON: Final = {"temperature": "temperature", "humidity": "humidity", "pressure": "pressure"}
FORMAT5_KEYS: Final = {
    **_COMMON,
    "accelX": "acceleration_x",
    "accelY": "acceleration_y",
    "accelZ": "acceleration_z",
    "txPower": "tx_power",
    "voltage": "battery",
    "movementCounter": "movement_counter",
    "measurementSequenceNumber": "measurement_sequence",
}
_AIR: Final = {
    "CO2": "co2",
    "VOC": "voc_index",
    "NOx": "nox_index",
    "luminosity": "luminosity",
    "measurementSequenceNumber": "measurement_sequence",
}
FORMAT6_KEYS: Final = {**_COMMON, "PM2.5": "pm2_5", **_AIR}
FORMATE1_KEYS: Final = {
    **_COMMON,
    "PM1.0": "pm1_0",
    "PM2.5": "pm2_5",
    "PM4.0": "pm4_0",
    "PM10.0": "pm10_0",
    **_AIR,
}
# Fields whose values are integers in the reading (the gateway may print 201 or 201.0).
_INT_FIELDS: Final = frozenset(
    {"pressure", "tx_power", "movement_counter", "measurement_sequence", "co2", "voc_index",
     "nox_index"}
)  # fmt: skip


def _data_format(obj: Mapping[str, Any]) -> int:
    value = obj.get("dataFormat")
    if isinstance(value, str) and value.upper() in ("E1", "225"):
        return formate1.DATA_FORMAT
    if isinstance(value, int) and not isinstance(value, bool) and value in (5, 6, 0xE1):
        return value
    raise RuuviCodecError(
        ErrorKind.UNKNOWN_FORMAT,
        f"decoded message: dataFormat {value!r} is not one of 5, 6, E1",
    )


def _value(name: str, field: str, raw: object) -> object:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise RuuviCodecError(
            ErrorKind.BAD_VALUE, f"decoded message: {name} must be a number, got {raw!r}"
        )
    if isinstance(raw, float) and not math.isfinite(raw):
        return None  # the gateway prints a failed sensor as NaN where its JSON allows it
    if field in _INT_FIELDS:
        if raw != int(raw):
            raise RuuviCodecError(
                ErrorKind.BAD_VALUE, f"decoded message: {name} must be an integer, got {raw!r}"
            )
        return int(raw)
    return float(raw)


def _fields(obj: Mapping[str, Any], keys: Mapping[str, str]) -> dict[str, object]:
    return {field: _value(key, field, obj.get(key)) for key, field in keys.items()}


def _mac(obj: Mapping[str, Any]) -> str | None:
    mac = obj.get("id")
    if mac is not None and not isinstance(mac, str):
        raise RuuviCodecError(
            ErrorKind.BAD_VALUE, f"decoded message: id must be a MAC, got {mac!r}"
        )
    if mac is None or set(mac.upper()) <= {"F", ":"}:
        return None  # all ones: the format's "not available"
    return mac.upper()


def reading_from_decoded(obj: Mapping[str, Any]) -> AnyReading:
    """The reading a decoded-mode message states, validated; RuuviCodecError otherwise."""
    data_format = _data_format(obj)
    reading: AnyReading
    if data_format == format5.DATA_FORMAT:
        reading = RuuviReading(data_format, **_fields(obj, FORMAT5_KEYS), mac=_mac(obj))  # type: ignore[arg-type]
        format5.encode(reading)
        return reading
    calibration = obj.get("flag_calibration_in_progress", False)
    if not isinstance(calibration, bool):
        raise RuuviCodecError(
            ErrorKind.BAD_VALUE,
            f"decoded message: flag_calibration_in_progress must be a boolean, got {calibration!r}",
        )
    if data_format == format6.DATA_FORMAT:
        fields = _fields(obj, FORMAT6_KEYS)
        if fields["measurement_sequence"] is None:
            raise RuuviCodecError(
                ErrorKind.BAD_VALUE, "decoded message: Format 6 needs measurementSequenceNumber"
            )
        reading = Format6Reading(
            data_format,
            calibration_in_progress=calibration,
            mac=_mac(obj),
            **fields,  # type: ignore[arg-type]
        )
        format6.encode(reading)
        return reading
    reading = FormatE1Reading(
        data_format,
        calibration_in_progress=calibration,
        mac=_mac(obj),
        **_fields(obj, FORMATE1_KEYS),  # type: ignore[arg-type]
    )
    formate1.encode(reading)
    return reading
