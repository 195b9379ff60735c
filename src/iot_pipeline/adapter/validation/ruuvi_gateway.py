"""Payload family 2: the official Ruuvi Gateway (topic ``ruuvi/<gw_mac>/<tag_mac>``).

JSON with the whole BLE advertisement in ``data``, ``gw_mac``, ``rssi``, ``aoa``, ``coords`` and
the Unix-time timestamps ``ts`` (received) / ``gwts`` (relayed), strings before gateway firmware
v1.15 and integers since; or ``cnt`` instead of timestamps. Told by its shape: an object with
``data`` and no ``raw``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
from iot_pipeline.adapter.validation.results import SourceFormat, TagReading, ValidationLimits
from iot_pipeline.adapter.validation.timestamps import parse_timestamp
from iot_pipeline.ruuvi import RuuviCodecError, decode, find_ruuvi_manufacturer_data, parse_hex


class RuuviGatewayMessage(BaseModel):
    model_config = STRICT

    data: str = Field(max_length=MAX_HEX_CHARS)
    gw_mac: str | None = Field(None, max_length=32)
    rssi: int | None = None
    aoa: list[Any] = Field(default_factory=list)
    ts: str | int | None = None
    gwts: str | int | None = None
    cnt: str | int | None = None
    coords: str | None = None


def claims(_topic: str, obj: dict[str, Any]) -> bool:
    return "data" in obj and "raw" not in obj


def parse(
    topic: str, obj: dict[str, Any], received_at: datetime, limits: ValidationLimits
) -> TagReading:
    msg = validate(RuuviGatewayMessage, obj)
    segments = topic.split("/")
    topic_tag = topic_mac(segments[-1] if len(segments) >= 2 else None)
    topic_gw = topic_mac(segments[-2] if len(segments) >= 3 else None)
    gateway_mac = normalize_mac(msg.gw_mac, "gw_mac") if msg.gw_mac is not None else topic_gw
    rssi = check_rssi(msg.rssi)
    try:
        advertisement = parse_hex(msg.data)
        payload = find_ruuvi_manufacturer_data(advertisement)
        values = decode(payload)
    except RuuviCodecError as exc:
        raise codec_rejection("data", exc) from None
    # Newer gateway firmware can add decoded fields; those named as in this project's contract
    # are checked against the raw data like the firmware's.
    extra = {name: obj[name] for name in MEASUREMENT_FIELDS if name in obj}
    if extra:
        compare_decoded(values, validate(MeasurementFields, extra), tuple(extra))
    tag_mac = values.mac or topic_tag
    if tag_mac is None:
        raise RejectedError(
            RejectReason.BAD_MAC,
            "tag MAC unknown: the payload's MAC is 'not available' and the topic names none",
        )
    if topic_tag is not None and values.mac is not None and topic_tag != values.mac:
        raise RejectedError(
            RejectReason.DECODE_MISMATCH,
            f"topic names tag {topic_tag} but the raw data carries {values.mac}",
        )
    stamp = msg.ts if msg.ts is not None else msg.gwts
    timestamp, ts_source = parse_timestamp(stamp, received_at, limits)
    return TagReading(
        source=SourceFormat.RUUVI_GATEWAY,
        tag_mac=tag_mac,
        gateway_id=gateway_mac,
        gateway_mac=gateway_mac,
        rssi=rssi,
        timestamp=timestamp,
        timestamp_source=ts_source,
        values=values,
        raw=advertisement.hex().upper(),
    )
