"""What validating one message yields, and the limits it is validated against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from iot_pipeline.adapter.reasons import Rejection
from iot_pipeline.ruuvi import AnyReading


class SourceFormat(StrEnum):
    """The payload family a reading or status came in (labels metrics: a bounded set)."""

    ESP32_FIRMWARE = "esp32_firmware"
    RUUVI_GATEWAY = "ruuvi_gateway"
    RUUVI_GATEWAY_DECODED = "ruuvi_gateway_decoded"  # its decoded MQTT mode: fields, no raw data


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
    """One valid RuuviTag / Ruuvi Air measurement (any data format), whichever gateway relayed
    it."""

    source: SourceFormat
    tag_mac: str  # upper-case AA:BB:CC:DD:EE:FF
    gateway_id: str | None
    gateway_mac: str | None
    rssi: int | None
    timestamp: datetime  # tz-aware UTC
    timestamp_source: TimestampSource
    values: AnyReading
    raw: str | None = None  # upper-case hex of what was decoded, when the message carried it
    payload: bytes | None = None  # the manufacturer payload decoded (identifies a Format 3 one)


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    """A gateway came online or went offline (status / last-will message)."""

    gateway_id: str
    online: bool
    source: SourceFormat
    gateway_mac: str | None = None


ParseResult = TagReading | GatewayStatus | Rejection
