"""Parse and validate one MQTT message into a reading, a gateway status or a rejection (pure).

Two payload families are accepted:

1. This project's ESP32 firmware (``tests/vectors/esp32_gateway_message.json``): topic
   ``ruuvitag/data``, JSON with ``gateway_id``, ``gateway_mac``, ``mac``, ``rssi``, ``timestamp``
   (ISO 8601 UTC), ``data_format``, ``raw`` (the 24-byte Format 5 payload in hex) and the decoded
   fields; its status/last-will messages on ``ruuvitag/status/<gateway_id>`` carry ``state``.
2. The official Ruuvi Gateway (``ruuvi/<gw_mac>/<tag_mac>``): JSON with the whole BLE
   advertisement in ``data``, ``gw_mac``, ``rssi``, ``aoa``, ``coords`` and the Unix-time
   timestamps ``ts`` (received) / ``gwts`` (relayed), strings before gateway firmware v1.15 and
   integers since; or ``cnt`` instead of timestamps. Its status topic is ``ruuvi/<gw>/gw_status``
   with ``{"state": "online" | "offline"}``.

The family is told by the topic (status topics) and by the payload's shape: an object with
``data`` and no ``raw`` is a Ruuvi Gateway message, anything else is the firmware's.

Where raw data is present it is decoded with the shared codec and becomes the reading; decoded
fields in the message that disagree with it (exactly: both sides use the same integer
arithmetic) make the message invalid. ``parse_message`` never raises: every input yields a
:class:`TagReading`, a :class:`GatewayStatus` or a :class:`Rejection`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from iot_pipeline.adapter.reasons import RejectedError, Rejection, RejectReason
from iot_pipeline.ruuvi import (
    ErrorKind,
    RuuviCodecError,
    RuuviReading,
    decode,
    find_ruuvi_manufacturer_data,
    parse_hex,
)
from iot_pipeline.ruuvi import format5 as f5

_EPOCH_TEXT: Final = re.compile(r"\d+(\.\d+)?")
MAC_PATTERN: Final = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$")
GATEWAY_ID_PATTERN: Final = r"^[A-Za-z0-9._:-]{1,64}$"
MEASUREMENT_FIELDS: Final = f5.FIELD_NAMES[1:-1]  # temperature .. measurement_sequence
RSSI_RANGE: Final = (-127, 20)  # dBm; BLE reports int8, +20 is the strongest plausible
_MAX_HEX_CHARS: Final = 512  # a whole legacy advertisement is at most 31 bytes (62 hex chars)
_EPOCH_MS_THRESHOLD: Final = 100_000_000_000  # larger numbers are milliseconds (1973+)


class SourceFormat(StrEnum):
    ESP32_FIRMWARE = "esp32_firmware"
    RUUVI_GATEWAY = "ruuvi_gateway"


class TimestampSource(StrEnum):
    PAYLOAD = "payload"
    RECEIVE_TIME = "receive_time"


@dataclass(frozen=True, slots=True)
class ValidationLimits:
    """What the adapter accepts; built from the settings by the service."""

    max_payload_bytes: int = 4096
    max_future: timedelta = timedelta(minutes=5)
    max_past: timedelta = timedelta(days=7)
    status_topic_prefix: str = "ruuvitag/status/"
    ruuvi_status_suffix: str = "/gw_status"


@dataclass(frozen=True, slots=True)
class TagReading:
    """One valid RuuviTag measurement, whichever gateway relayed it."""

    source: SourceFormat
    tag_mac: str  # upper-case AA:BB:CC:DD:EE:FF
    gateway_id: str | None
    gateway_mac: str | None
    rssi: int | None
    timestamp: datetime  # tz-aware UTC
    timestamp_source: TimestampSource
    values: RuuviReading
    raw: str | None = None  # upper-case hex of what was decoded, when the message carried it


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    """A gateway came online or went offline (status / last-will message)."""

    gateway_id: str
    online: bool
    source: SourceFormat
    gateway_mac: str | None = None


ParseResult = TagReading | GatewayStatus | Rejection


# --- message shapes (types and required fields only; semantics are checked below) ------------

_STRICT = ConfigDict(strict=True, extra="ignore", frozen=True)


class MeasurementFields(BaseModel):
    """Decoded Format 5 fields as a message states them (names and units of the contract)."""

    model_config = _STRICT

    temperature: float | None = None
    humidity: float | None = None
    pressure: int | None = None
    acceleration_x: float | None = None
    acceleration_y: float | None = None
    acceleration_z: float | None = None
    tx_power: int | None = None
    battery: float | None = None
    movement_counter: int | None = None
    measurement_sequence: int | None = None


class FirmwareMessage(MeasurementFields):
    gateway_id: str = Field(pattern=GATEWAY_ID_PATTERN)
    gateway_mac: str | None = Field(None, max_length=32)
    mac: str = Field(max_length=32)
    rssi: int | None = None
    timestamp: str | int | float | None = None
    data_format: int | None = None
    raw: str | None = Field(None, max_length=_MAX_HEX_CHARS)


class RuuviGatewayMessage(BaseModel):
    model_config = _STRICT

    data: str = Field(max_length=_MAX_HEX_CHARS)
    gw_mac: str | None = Field(None, max_length=32)
    rssi: int | None = None
    aoa: list[Any] = Field(default_factory=list)
    ts: str | int | None = None
    gwts: str | int | None = None
    cnt: str | int | None = None
    coords: str | None = None


class StatusMessage(BaseModel):
    model_config = _STRICT

    state: str = Field(max_length=32)
    gateway_id: str | None = Field(None, pattern=GATEWAY_ID_PATTERN)
    gateway_mac: str | None = Field(None, max_length=32)


# --- helpers -----------------------------------------------------------------------------------


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def normalize_mac(value: str, what: str) -> str:
    """``aa-bb-cc-dd-ee-ff`` / ``AA:BB:..`` into upper-case colon form; BAD_MAC otherwise."""
    if not MAC_PATTERN.match(value):
        raise RejectedError(
            RejectReason.BAD_MAC,
            f"{what} is not a MAC address like AA:BB:CC:DD:EE:FF: {_short(value)}",
        )
    return value.replace("-", ":").upper()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


# Built once: json.loads() with any keyword builds a new decoder per call.
_JSON: Final = json.JSONDecoder(parse_constant=_reject_constant)


def _load_json_object(payload: bytes, max_bytes: int) -> dict[str, Any]:
    if len(payload) > max_bytes:
        raise RejectedError(
            RejectReason.OVERSIZE,
            f"payload of {len(payload)} bytes exceeds the {max_bytes}-byte limit",
        )
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RejectedError(RejectReason.NOT_JSON, f"payload is not UTF-8: {exc.reason}") from None
    try:
        obj = _JSON.decode(text)
    except RecursionError:
        raise RejectedError(RejectReason.NOT_JSON, "payload nests too deeply") from None
    except ValueError as exc:
        raise RejectedError(RejectReason.NOT_JSON, f"payload is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise RejectedError(
            RejectReason.SCHEMA, f"payload must be a JSON object, got {type(obj).__name__}"
        )
    return obj


def _validate(model: type[BaseModel], obj: dict[str, Any]) -> Any:
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise RejectedError(RejectReason.SCHEMA, f"{where}: {first['msg']}{more}") from None


def parse_timestamp(
    value: str | float | None, received_at: datetime, limits: ValidationLimits
) -> tuple[datetime, TimestampSource]:
    """A message timestamp into tz-aware UTC, or the receive time when there is none.

    Accepted: ISO 8601 with a time zone, Unix time in seconds or milliseconds as a number or as a
    string of digits. Rejected (BAD_TIMESTAMP): anything else, no time zone, more than
    ``limits.max_future`` ahead of or ``limits.max_past`` behind the receive time.
    """
    if value is None:
        return received_at, TimestampSource.RECEIVE_TIME
    parsed: datetime | None = None
    try:
        if isinstance(value, str):
            text = value.strip()
            if not text or len(text) > 64:
                raise ValueError("empty or too long")
            if _EPOCH_TEXT.fullmatch(text):
                parsed = _from_epoch(float(text))
            else:
                parsed = datetime.fromisoformat(text)
                if parsed.tzinfo is None or parsed.utcoffset() is None:
                    raise RejectedError(
                        RejectReason.BAD_TIMESTAMP,
                        f"timestamp {_short(value)} has no time zone (use Z or +00:00)",
                    )
        elif isinstance(value, int | float) and not isinstance(value, bool):
            parsed = _from_epoch(float(value))
    except RejectedError:
        raise
    except (ValueError, OverflowError, OSError):
        parsed = None
    if parsed is None:
        raise RejectedError(
            RejectReason.BAD_TIMESTAMP,
            f"timestamp {_short(value)} is neither ISO 8601 nor Unix time",
        )
    parsed = parsed.astimezone(UTC)
    if parsed > received_at + limits.max_future:
        raise RejectedError(
            RejectReason.BAD_TIMESTAMP,
            f"timestamp {parsed.isoformat()} is in the future (received {received_at.isoformat()})",
        )
    if parsed < received_at - limits.max_past:
        raise RejectedError(
            RejectReason.BAD_TIMESTAMP,
            f"timestamp {parsed.isoformat()} is older than {limits.max_past} "
            f"(received {received_at.isoformat()})",
        )
    return parsed, TimestampSource.PAYLOAD


def _from_epoch(seconds: float) -> datetime:
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("not a finite, non-negative Unix time")
    if seconds >= _EPOCH_MS_THRESHOLD:
        seconds /= 1000
    return datetime.fromtimestamp(seconds, UTC)


def _check_rssi(rssi: int | None) -> int | None:
    if rssi is not None and not RSSI_RANGE[0] <= rssi <= RSSI_RANGE[1]:
        raise RejectedError(
            RejectReason.OUT_OF_RANGE, f"rssi {rssi} dBm outside [{RSSI_RANGE[0]}, {RSSI_RANGE[1]}]"
        )
    return rssi


_CODEC_REASONS: Final = {
    ErrorKind.UNKNOWN_FORMAT: RejectReason.UNKNOWN_FORMAT,
    ErrorKind.NO_RUUVI_DATA: RejectReason.NOT_RUUVI,
    ErrorKind.OUT_OF_RANGE: RejectReason.OUT_OF_RANGE,
}


def _codec_rejection(field_name: str, exc: RuuviCodecError) -> RejectedError:
    reason = _CODEC_REASONS.get(exc.kind, RejectReason.BAD_RAW_DATA)
    return RejectedError(reason, f"{field_name}: {exc.message}")


_RANGES: Final[dict[str, tuple[float, float]]] = {
    "temperature": f5.TEMPERATURE_RANGE,
    "humidity": f5.HUMIDITY_RANGE,
    "pressure": f5.PRESSURE_RANGE,
    "acceleration_x": f5.ACCELERATION_RANGE,
    "acceleration_y": f5.ACCELERATION_RANGE,
    "acceleration_z": f5.ACCELERATION_RANGE,
    "tx_power": f5.TX_POWER_RANGE,
    "battery": f5.BATTERY_RANGE,
    "movement_counter": f5.MOVEMENT_COUNTER_RANGE,
    "measurement_sequence": f5.MEASUREMENT_SEQUENCE_RANGE,
}


def _check_ranges(values: dict[str, Any]) -> None:
    for name, value in values.items():
        if value is None:
            continue
        low, high = _RANGES[name]
        if not (math.isfinite(value) and low <= value <= high):
            raise RejectedError(
                RejectReason.OUT_OF_RANGE,
                f"{name} {value} outside the Format 5 range [{low}, {high}]",
            )


def _compare_decoded(reading: RuuviReading, message: BaseModel, names: tuple[str, ...]) -> None:
    """Every decoded field the message states must equal the codec's decoding of the raw data."""
    given = message.model_fields_set
    for name in names:
        if name in given:
            stated = getattr(message, name)
            decoded = getattr(reading, name)
            if stated != decoded:
                raise RejectedError(
                    RejectReason.DECODE_MISMATCH,
                    f"{name} is {stated!r} in the message but the raw data decodes to {decoded!r}",
                )


# --- the two payload families -----------------------------------------------------------------


def _parse_firmware(
    obj: dict[str, Any], received_at: datetime, limits: ValidationLimits
) -> TagReading:
    msg: FirmwareMessage = _validate(FirmwareMessage, obj)
    tag_mac = normalize_mac(msg.mac, "mac")
    gateway_mac = (
        normalize_mac(msg.gateway_mac, "gateway_mac") if msg.gateway_mac is not None else None
    )
    rssi = _check_rssi(msg.rssi)
    if msg.data_format is not None and msg.data_format != f5.DATA_FORMAT:
        raise RejectedError(
            RejectReason.UNKNOWN_FORMAT, f"data_format {msg.data_format} is not supported (only 5)"
        )
    if msg.raw is not None:
        try:
            payload = parse_hex(msg.raw)
            values = decode(payload)
        except RuuviCodecError as exc:
            raise _codec_rejection("raw", exc) from None
        _compare_decoded(values, msg, MEASUREMENT_FIELDS)
        if values.mac is not None and values.mac != tag_mac:
            raise RejectedError(
                RejectReason.DECODE_MISMATCH,
                f"mac is {tag_mac} in the message but the raw data carries {values.mac}",
            )
        raw = payload.hex().upper()
    else:
        stated = {name: getattr(msg, name) for name in MEASUREMENT_FIELDS}
        if all(v is None for v in stated.values()):
            raise RejectedError(
                RejectReason.SCHEMA, "message has neither raw data nor any measurement field"
            )
        _check_ranges(stated)
        values = RuuviReading(data_format=f5.DATA_FORMAT, mac=tag_mac, **stated)
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


def _topic_mac(segment: str | None) -> str | None:
    if segment is not None and MAC_PATTERN.match(segment):
        return segment.replace("-", ":").upper()
    return None


def _parse_ruuvi_gateway(
    topic: str, obj: dict[str, Any], received_at: datetime, limits: ValidationLimits
) -> TagReading:
    msg: RuuviGatewayMessage = _validate(RuuviGatewayMessage, obj)
    segments = topic.split("/")
    topic_tag = _topic_mac(segments[-1] if len(segments) >= 2 else None)
    topic_gw = _topic_mac(segments[-2] if len(segments) >= 3 else None)
    gateway_mac = normalize_mac(msg.gw_mac, "gw_mac") if msg.gw_mac is not None else topic_gw
    rssi = _check_rssi(msg.rssi)
    try:
        advertisement = parse_hex(msg.data)
        payload = find_ruuvi_manufacturer_data(advertisement)
        values = decode(payload)
    except RuuviCodecError as exc:
        raise _codec_rejection("data", exc) from None
    # Newer gateway firmware can add decoded fields; those named as in this project's contract
    # are checked against the raw data like the firmware's.
    extra = {name: obj[name] for name in MEASUREMENT_FIELDS if name in obj}
    if extra:
        _compare_decoded(values, _validate(MeasurementFields, extra), tuple(extra))
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


def _parse_status(topic: str, obj: dict[str, Any], source: SourceFormat) -> GatewayStatus:
    msg: StatusMessage = _validate(StatusMessage, obj)
    state = msg.state.strip().lower()
    if state not in ("online", "offline"):
        raise RejectedError(
            RejectReason.SCHEMA, f"state must be 'online' or 'offline', got {_short(msg.state)}"
        )
    gateway_mac = (
        normalize_mac(msg.gateway_mac, "gateway_mac") if msg.gateway_mac is not None else None
    )
    segments = topic.split("/")
    if source is SourceFormat.RUUVI_GATEWAY:
        topic_id = segments[-2] if len(segments) >= 2 else ""
        gateway_id = msg.gateway_id or _topic_mac(topic_id) or topic_id
    else:
        gateway_id = msg.gateway_id or segments[-1]
    if not re.fullmatch(GATEWAY_ID_PATTERN, gateway_id or ""):
        raise RejectedError(RejectReason.SCHEMA, f"gateway id {_short(gateway_id)} is not valid")
    return GatewayStatus(
        gateway_id=gateway_id, online=state == "online", source=source, gateway_mac=gateway_mac
    )


def parse_message(
    topic: str, payload: bytes, received_at: datetime, limits: ValidationLimits | None = None
) -> ParseResult:
    """Classify and validate one MQTT message. Never raises for any topic or payload.

    ``received_at`` must be tz-aware; it replaces a missing timestamp and anchors the sanity
    window of present ones.
    """
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    limits = limits or ValidationLimits()
    try:
        status_source = (
            SourceFormat.RUUVI_GATEWAY
            if topic.endswith(limits.ruuvi_status_suffix)
            else SourceFormat.ESP32_FIRMWARE
            if topic.startswith(limits.status_topic_prefix)
            else None
        )
        if status_source is not None and payload.strip().lower() in (b"online", b"offline"):
            return _parse_status(topic, {"state": payload.strip().decode()}, status_source)
        obj = _load_json_object(payload, limits.max_payload_bytes)
        if status_source is not None:
            return _parse_status(topic, obj, status_source)
        if "data" in obj and "raw" not in obj:
            return _parse_ruuvi_gateway(topic, obj, received_at, limits)
        return _parse_firmware(obj, received_at, limits)
    except RejectedError as exc:
        return exc.rejection


__all__ = [
    "FirmwareMessage",
    "GatewayStatus",
    "MeasurementFields",
    "ParseResult",
    "RuuviGatewayMessage",
    "SourceFormat",
    "StatusMessage",
    "TagReading",
    "TimestampSource",
    "ValidationLimits",
    "normalize_mac",
    "parse_message",
    "parse_timestamp",
]
