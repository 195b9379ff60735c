"""Alert events <-> Avro records of ``alert_event.avsc`` (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from iot_pipeline.alerts.model import AlertEvent, EventType, Rule, Severity
from iot_pipeline.schemas.records import EPOCH

ALERT_SCHEMA_FILE = "alert_event.avsc"


def _ms_to_datetime(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def _datetime_to_ms(value: datetime | int) -> int:
    if isinstance(value, int):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // timedelta(milliseconds=1)


def event_to_record(event: AlertEvent) -> dict[str, Any]:
    return {
        "event_type": event.event_type.value,
        "alert_id": event.alert_id,
        "device_id": event.device_id,
        "device_type": event.device_type,
        "rule": event.rule.value,
        "severity": event.severity.value,
        "value": event.value,
        "threshold": event.threshold,
        "band_low": event.band_low,
        "band_high": event.band_high,
        "unit": event.unit,
        "first_seen": _ms_to_datetime(event.first_seen_ms),
        "event_time": _ms_to_datetime(event.event_time_ms),
        "message": event.message,
    }


def event_from_record(record: Mapping[str, Any]) -> AlertEvent:
    """Raises ValueError (or KeyError) for a record that is not a known alert event."""
    return AlertEvent(
        event_type=EventType(record["event_type"]),
        alert_id=record["alert_id"],
        device_id=record["device_id"],
        device_type=record["device_type"],
        rule=Rule(record["rule"]),
        severity=Severity(record["severity"]),
        value=record.get("value"),
        threshold=record.get("threshold"),
        band_low=record.get("band_low"),
        band_high=record.get("band_high"),
        unit=record.get("unit") or "",
        first_seen_ms=_datetime_to_ms(record["first_seen"]),
        event_time_ms=_datetime_to_ms(record["event_time"]),
        message=record.get("message") or "",
    )
