"""Payload family 2: the official Ruuvi Gateway (topic ``ruuvi/<gw_mac>/<tag_mac>``).

JSON with the whole BLE advertisement in ``data``, ``gw_mac``, ``rssi``, ``aoa``, ``coords`` and
the Unix-time timestamps ``ts`` (received) / ``gwts`` (relayed), strings before gateway firmware
v1.15 and integers since; or ``cnt`` instead of timestamps. Told by its shape: an object with
``data`` and no ``raw``. The advertisement may hold any data format (3, 5, 6, E1).

In the gateway's "raw and decoded" MQTT mode the message also has ``dataFormat`` and the fields
the gateway decoded itself (``iot_pipeline.ruuvi.gateway_decoded``): they are stated values,
validated and compared with the raw data's decoding to the precision the gateway prints
(``GATEWAY_PRECISION``). Its "decoded" mode (no ``data``) is ``ruuvi_gateway_decoded``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Final

from pydantic import BaseModel, Field

from iot_pipeline.adapter.reasons import RejectedError, RejectReason
from iot_pipeline.adapter.validation.fields import (
    MAX_HEX_CHARS,
    STRICT,
    check_rssi,
    codec_rejection,
    compare_decoded,
    normalize_mac,
    topic_mac,
    validate,
)
from iot_pipeline.adapter.validation.formats import MEASUREMENT_FIELDS, MeasurementFields
from iot_pipeline.adapter.validation.payloads import (
    FORMAT_3,
    FORMAT_5,
    compare_fields,
    decode_manufacturer_payload,
    gateway_tag_mac,
)
from iot_pipeline.adapter.validation.results import (
    SourceFormat,
    TagReading,
    TimestampSource,
    ValidationLimits,
)
from iot_pipeline.adapter.validation.timestamps import parse_timestamp
from iot_pipeline.ruuvi import AnyReading, RuuviCodecError, find_ruuvi_manufacturer_data, parse_hex
from iot_pipeline.ruuvi.common import ErrorKind
from iot_pipeline.ruuvi.gateway_decoded import reading_from_decoded

# How far a field the gateway decoded may be from the raw data's decoding: it prints Ruuvi Air
# temperature, humidity and PM to 0.1 and luminosity and pressure as integers; acceleration and
# battery to 0.001. Integers it copies (CO2, VOC, NOx, counters, tx power) must be equal.
GATEWAY_PRECISION: Final = {
    "temperature": 0.051,
    "humidity": 0.051,
    "pressure": 1.0,
    "pm1_0": 0.051,
    "pm2_5": 0.051,
    "pm4_0": 0.051,
    "pm10_0": 0.051,
    "luminosity": 0.51,
    "acceleration_x": 0.0011,
    "acceleration_y": 0.0011,
    "acceleration_z": 0.0011,
    "battery": 0.0011,
}


class GatewayEnvelope(BaseModel):
    """What every official gateway message has beside the measurement."""

    model_config = STRICT

    gw_mac: str | None = Field(None, max_length=32)
    rssi: int | None = None
    aoa: list[Any] = Field(default_factory=list)
    ts: str | int | None = None
    gwts: str | int | None = None
    cnt: str | int | None = None
    coords: str | None = None


class RuuviGatewayMessage(GatewayEnvelope):
    data: str = Field(max_length=MAX_HEX_CHARS)


def claims(_topic: str, obj: dict[str, Any]) -> bool:
    return "data" in obj and "raw" not in obj


@lru_cache(maxsize=4096)  # a tag's topic repeats in every message: split and match it once
def topic_macs(topic: str) -> tuple[str | None, str | None]:
    """(gateway MAC, tag MAC) the topic ``.../<gw_mac>/<tag_mac>`` names, None where it names
    none."""
    segments = topic.split("/")
    topic_tag = topic_mac(segments[-1] if len(segments) >= 2 else None)
    topic_gw = topic_mac(segments[-2] if len(segments) >= 3 else None)
    return topic_gw, topic_tag


@dataclass(frozen=True, slots=True)
class Relay:
    """What an official gateway message says beside the measurement, checked: the tag the topic
    names, the gateway MAC, RSSI and timestamp. Both MQTT modes build their reading from it."""

    topic_tag: str | None
    gateway_mac: str | None
    rssi: int | None
    timestamp: datetime
    timestamp_source: TimestampSource

    def reading(
        self,
        source: SourceFormat,
        values: AnyReading,
        unknown: str,
        raw: str | None = None,
        payload: bytes | None = None,
    ) -> TagReading:
        """The reading of ``values``, for the tag the topic names or else the full MAC the
        values carry (``unknown`` says why neither is there when the message is rejected)."""
        return TagReading(
            source=source,
            tag_mac=gateway_tag_mac(values, self.topic_tag, unknown),
            gateway_id=self.gateway_mac,
            gateway_mac=self.gateway_mac,
            rssi=self.rssi,
            timestamp=self.timestamp,
            timestamp_source=self.timestamp_source,
            values=values,
            raw=raw,
            payload=payload,
        )


def relay(
    msg: GatewayEnvelope, topic: str, received_at: datetime, limits: ValidationLimits
) -> Relay:
    """The topic's tag and the message's gateway MAC (else the topic's), RSSI and timestamp,
    checked."""
    topic_gw, topic_tag = topic_macs(topic)
    gateway_mac = normalize_mac(msg.gw_mac, "gw_mac") if msg.gw_mac is not None else topic_gw
    rssi = check_rssi(msg.rssi)
    stamp = msg.ts if msg.ts is not None else msg.gwts
    timestamp, ts_source = parse_timestamp(stamp, received_at, limits)
    return Relay(topic_tag, gateway_mac, rssi, timestamp, ts_source)


def decoded_rejection(exc: RuuviCodecError) -> RejectedError:
    """A decoded-mode message's fields refused by the codec: the wrong type is SCHEMA."""
    if exc.kind is ErrorKind.BAD_VALUE:
        return RejectedError(RejectReason.SCHEMA, exc.message)
    return codec_rejection("decoded fields", exc)


def _check_gateway_decoded(values: AnyReading, obj: dict[str, Any]) -> None:
    """Raw-and-decoded mode: the gateway's own decoding must agree with the raw data's."""
    try:
        stated = reading_from_decoded(obj)
    except RuuviCodecError as exc:
        raise decoded_rejection(exc) from None
    if stated.data_format != values.data_format:
        raise RejectedError(
            RejectReason.DECODE_MISMATCH,
            f"dataFormat is {obj.get('dataFormat')!r} but data holds a Format "
            f"{values.data_format:X} payload",
        )
    given = {k: v for k, v in stated.to_dict().items() if v is not None}
    compare_fields(values, given, GATEWAY_PRECISION)


def _check_stated(values: AnyReading, obj: dict[str, Any]) -> None:
    if "dataFormat" in obj:
        _check_gateway_decoded(values, obj)
    elif values.data_format in (FORMAT_5, FORMAT_3):
        # Fields named as in this project's contract are checked like the firmware's.
        extra = {name: obj[name] for name in MEASUREMENT_FIELDS if name in obj}
        if extra:
            compare_decoded(values, validate(MeasurementFields, extra), tuple(extra))  # type: ignore[arg-type]


def parse(
    topic: str, obj: dict[str, Any], received_at: datetime, limits: ValidationLimits
) -> TagReading:
    msg = validate(RuuviGatewayMessage, obj)
    relayed = relay(msg, topic, received_at, limits)
    try:
        advertisement = parse_hex(msg.data)
        payload = find_ruuvi_manufacturer_data(advertisement)
    except RuuviCodecError as exc:
        raise codec_rejection("data", exc) from None
    values = decode_manufacturer_payload(payload, "data")
    _check_stated(values, obj)
    return relayed.reading(
        SourceFormat.RUUVI_GATEWAY,
        values,
        "the payload carries no full MAC and the topic names none",
        raw=advertisement.hex().upper(),
        payload=payload,
    )
