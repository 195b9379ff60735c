"""Payload family 1, and the fallback for messages no family claims: this project's ESP32
firmware (``tests/vectors/esp32_gateway_message.json``).

Topic ``ruuvitag/data``, JSON with ``gateway_id``, ``gateway_mac``, ``mac``, ``rssi``,
``timestamp`` (ISO 8601 UTC), ``data_format``, ``raw`` (the 24-byte Format 5 payload in hex) and
the decoded fields. With ``raw`` the codec's decoding is the reading and the stated fields must
agree with it; without, the stated fields are the reading, checked against the format's ranges.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from iot_pipeline.adapter.reasons import RejectedError, RejectReason
from iot_pipeline.adapter.validation.fields import (
    GATEWAY_ID_PATTERN,
    MAX_HEX_CHARS,
    check_rssi,
    codec_rejection,
    compare_decoded,
    normalize_mac,
    validate,
)
from iot_pipeline.adapter.validation.formats import (
    MeasurementFields,
    check_ranges,
    decoded_format,
)
from iot_pipeline.adapter.validation.results import SourceFormat, TagReading, ValidationLimits
from iot_pipeline.adapter.validation.timestamps import parse_timestamp
from iot_pipeline.ruuvi import RuuviCodecError, RuuviReading, decode, parse_hex


class FirmwareMessage(MeasurementFields):
    gateway_id: str = Field(pattern=GATEWAY_ID_PATTERN)
    gateway_mac: str | None = Field(None, max_length=32)
    mac: str = Field(max_length=32)
    rssi: int | None = None
    timestamp: str | int | float | None = None
    data_format: int | None = None
    raw: str | None = Field(None, max_length=MAX_HEX_CHARS)


def parse(
    _topic: str, obj: dict[str, Any], received_at: datetime, limits: ValidationLimits
) -> TagReading:
    msg = validate(FirmwareMessage, obj)
    tag_mac = normalize_mac(msg.mac, "mac")
    gateway_mac = (
        normalize_mac(msg.gateway_mac, "gateway_mac") if msg.gateway_mac is not None else None
    )
    rssi = check_rssi(msg.rssi)
    fmt = decoded_format(msg.data_format)
    if msg.raw is not None:
        values, raw = _decode_raw(msg.raw, msg, tag_mac, fmt.fields)
    else:
        stated = {name: getattr(msg, name) for name in fmt.fields}
        if all(v is None for v in stated.values()):
            raise RejectedError(
                RejectReason.SCHEMA, "message has neither raw data nor any measurement field"
            )
        check_ranges(stated, fmt)
        values = RuuviReading(data_format=fmt.data_format, mac=tag_mac, **stated)
        raw = None
    timestamp, ts_source = parse_timestamp(msg.timestamp, received_at, limits)
    return TagReading(
        source=SourceFormat.ESP32_FIRMWARE,
        tag_mac=tag_mac,
        gateway_id=msg.gateway_id,
        gateway_mac=gateway_mac,
        rssi=rssi,
        timestamp=timestamp,
        timestamp_source=ts_source,
        values=values,
        raw=raw,
    )


def _decode_raw(
    raw: str, msg: FirmwareMessage, tag_mac: str, fields: tuple[str, ...]
) -> tuple[RuuviReading, str]:
    """The reading the raw data decodes to (the stated fields and MAC must agree), and the raw
    data as upper-case hex."""
    try:
        payload = parse_hex(raw)
        values = decode(payload)
    except RuuviCodecError as exc:
        raise codec_rejection("raw", exc) from None
    compare_decoded(values, msg, fields)
    if values.mac is not None and values.mac != tag_mac:
        raise RejectedError(
            RejectReason.DECODE_MISMATCH,
            f"mac is {tag_mac} in the message but the raw data carries {values.mac}",
        )
    return values, payload.hex().upper()
