"""Plain data types of the alert rules engine (no I/O).

Times are integer milliseconds since the Unix epoch (UTC) throughout the engine, so state and
events serialise exactly; the Avro layer converts to and from ``timestamp-millis`` datetimes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from iot_pipeline.schemas.records import EPOCH, InvalidReading


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class EventType(StrEnum):
    FIRED = "fired"
    RESOLVED = "resolved"


class Rule(StrEnum):
    """Rule names as they appear in alert events (and in the alerts topic key)."""

    THRESHOLD_HIGH = "threshold_high"
    THRESHOLD_LOW = "threshold_low"
    RATE_OF_CHANGE = "rate_of_change"
    STUCK = "stuck"
    SILENCE = "silence"
    LOST_PACKETS = "lost_packets"
    STATISTICAL = "statistical"
    SUSTAINED_HIGH = "sustained_high"


@dataclass(frozen=True, slots=True)
class Reading:
    """The fields of an ``IoTSensorReading`` that the rules look at."""

    device_id: str
    device_type: str
    timestamp_ms: int
    value: float
    unit: str = ""
    tag_mac: str | None = None
    measurement_sequence: int | None = None
    # Where measurement_sequence wraps (the record's metadata data_format; Format 5's by default).
    sequence_modulus: int = 65535


# metadata data_format -> where measurement_sequence wraps: Format 5 0..65534 (65535 is "not
# available"), E1 0..16,777,214 (24 bits), Format 6 0..255 (8 bits, no sentinel).
_SEQUENCE_MODULUS = {"5": 65535, "225": 16_777_215, "6": 256}


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One ``fired`` or ``resolved`` event; a resolved event repeats its alert's identity."""

    event_type: EventType
    alert_id: str
    device_id: str
    device_type: str
    rule: Rule
    severity: Severity
    value: float | None
    threshold: float | None
    band_low: float | None
    band_high: float | None
    unit: str
    first_seen_ms: int
    event_time_ms: int
    message: str

    @property
    def key(self) -> str:
        """Kafka key of the event: one compacted slot per (device, rule)."""
        return alert_key(self.device_id, self.rule)


def alert_key(device_id: str, rule: Rule | str) -> str:
    return f"{device_id}|{Rule(rule).value}"


def alert_id(device_id: str, rule: Rule, first_seen_ms: int) -> str:
    return f"{device_id}|{rule.value}|{first_seen_ms}"


def _to_ms(ts: Any) -> int:
    if isinstance(ts, datetime):
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        return int((ts - EPOCH) // timedelta(milliseconds=1))
    if isinstance(ts, bool) or not isinstance(ts, int):
        raise InvalidReading(f"timestamp must be a datetime or epoch milliseconds, got {ts!r}")
    return ts


def reading_from_record(record: dict[str, Any]) -> Reading:
    """Build a :class:`Reading` from a deserialised ``IoTSensorReading`` record.

    Raises :class:`InvalidReading` with the reason when a field the rules need is unusable.
    """
    device_id = record.get("device_id")
    if not isinstance(device_id, str) or not device_id:
        raise InvalidReading(f"device_id missing or empty: {device_id!r}")
    device_type = record.get("device_type")
    if not isinstance(device_type, str) or not device_type:
        raise InvalidReading(f"device_type missing or empty for {device_id}")
    value = record.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidReading(f"value is not a number for {device_id}: {value!r}")
    if not math.isfinite(value):
        raise InvalidReading(f"value is not finite for {device_id}: {value!r}")
    seq = record.get("measurement_sequence")
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or seq < 0):
        raise InvalidReading(f"measurement_sequence invalid for {device_id}: {seq!r}")
    tag_mac = record.get("tag_mac")
    metadata = record.get("metadata")
    data_format = metadata.get("data_format") if isinstance(metadata, dict) else None
    return Reading(
        device_id=device_id,
        device_type=device_type,
        timestamp_ms=_to_ms(record.get("timestamp")),
        value=float(value),
        unit=str(record.get("unit") or ""),
        tag_mac=tag_mac if isinstance(tag_mac, str) and tag_mac else None,
        measurement_sequence=seq,
        sequence_modulus=_SEQUENCE_MODULUS.get(str(data_format), 65535),
    )
