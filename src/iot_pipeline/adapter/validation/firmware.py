"""Payload family 1, and the fallback for messages no family claims: this project's ESP32
firmware (``tests/vectors/esp32_gateway_message.json``).

Topic ``ruuvitag/data``, JSON with ``gateway_id``, ``gateway_mac``, ``mac``, ``rssi``,
``timestamp`` (ISO 8601 UTC), ``data_format`` (3, 5, 6 or 225 = E1), ``raw`` (the manufacturer
payload in hex) and the decoded fields. With ``raw`` the codec's decoding is the reading and the
stated fields, ``data_format`` and the MAC must agree with it (Format 6 carries the MAC's low 3
bytes, Format 3 none: the tag is the message's ``mac``). Without ``raw`` (Format 5 only) the
stated fields are the reading, checked against the format's ranges.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from pydantic import Field

from iot_pipeline.adapter.reasons import RejectedError, RejectReason
from iot_pipeline.adapter.validation.fields import (
    GATEWAY_ID_PATTERN,
    MAX_HEX_CHARS,
    check_rssi,
    codec_rejection,
    normalize_mac,
    validate,
)
from iot_pipeline.adapter.validation.formats import (
    MeasurementFields,
    check_ranges,
    decoded_format,
)
from iot_pipeline.adapter.validation.payloads import (
    FORMAT_NAMES,
    check_stated,
    check_tag_mac,
    decode_manufacturer_payload,
)
from iot_pipeline.adapter.validation.results import SourceFormat, TagReading, ValidationLimits
from iot_pipeline.adapter.validation.timestamps import parse_timestamp
from iot_pipeline.ruuvi import AnyReading, RuuviCodecError, RuuviReading, parse_hex

# data_format values a message with raw data may state (E1 is 225 in JSON).
_RAW_FORMATS: Final = frozenset(FORMAT_NAMES)


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
    if msg.raw is not None:
        values, payload = _decode_raw(msg.raw, msg, obj, tag_mac)
        raw: str | None = payload.hex().upper()
    else:
        values, payload, raw = _stated_reading(msg, tag_mac), None, None
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
        payload=payload,
    )


def _stated_reading(msg: FirmwareMessage, tag_mac: str) -> RuuviReading:
    """A message without raw data: its stated Format 5 fields, range-checked."""
    if msg.data_format is not None and msg.data_format in _RAW_FORMATS - {5}:
        raise RejectedError(
            RejectReason.SCHEMA,
            f"a data_format {msg.data_format} message must carry its payload in raw "
            "(only Format 5 messages may state decoded fields alone)",
        )
    fmt = decoded_format(msg.data_format)
    stated = {name: getattr(msg, name) for name in fmt.fields}
    if all(v is None for v in stated.values()):
        raise RejectedError(
            RejectReason.SCHEMA, "message has neither raw data nor any measurement field"
        )
    check_ranges(stated, fmt)
    return RuuviReading(data_format=fmt.data_format, mac=tag_mac, **stated)


def _decode_raw(
    raw: str, msg: FirmwareMessage, obj: dict[str, Any], tag_mac: str
) -> tuple[AnyReading, bytes]:
    """The reading the raw data decodes to (the stated format, fields and MAC must agree), and
    the payload's bytes."""
    if msg.data_format is not None and msg.data_format not in _RAW_FORMATS:
        decoded_format(msg.data_format)  # UNKNOWN_FORMAT, naming the supported ones
    try:
        payload = parse_hex(raw)
    except RuuviCodecError as exc:
        raise codec_rejection("raw", exc) from None
    values = decode_manufacturer_payload(payload, "raw")
    if msg.data_format is not None and msg.data_format != values.data_format:
        raise RejectedError(
            RejectReason.DECODE_MISMATCH,
            f"data_format is {msg.data_format} in the message but raw is a Format "
            f"{FORMAT_NAMES[values.data_format]} payload",
        )
    check_stated(values, msg, obj)
    check_tag_mac(values, tag_mac, "mac")
    return values, payload
