"""Outcomes of parsing one MQTT message: a reading, a gateway status, or a rejection."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RejectReason(StrEnum):
    """Why a message was rejected. A bounded set: it labels metrics and DLQ headers."""

    NOT_JSON = "not_json"  # not UTF-8, not JSON, or non-standard JSON (NaN, Infinity)
    SCHEMA = "schema"  # JSON of the wrong shape: missing field, wrong type, bad identifier
    OUT_OF_RANGE = "out_of_range"  # a value outside its data format's / physical range
    UNKNOWN_FORMAT = "unknown_format"  # Ruuvi data in a format other than 3, 5, 6, E1
    OVERSIZE = "oversize"  # payload larger than the configured limit
    DECODE_MISMATCH = "decode_mismatch"  # decoded fields disagree with the raw data
    BAD_MAC = "bad_mac"  # a MAC address that is not AA:BB:CC:DD:EE:FF
    BAD_TIMESTAMP = "bad_timestamp"  # unparseable, without time zone, far future or far past
    BAD_RAW_DATA = "bad_raw_data"  # raw hex that is not hex, or of the wrong length/structure
    NOT_RUUVI = "not_ruuvi"  # an advertisement without Ruuvi manufacturer data


@dataclass(frozen=True, slots=True)
class Rejection:
    """An invalid message: ``reason`` for machines, ``message`` for people."""

    reason: RejectReason
    message: str


class RejectedError(Exception):
    """Raised inside the parser to abort with a Rejection; never escapes ``parse_message``."""

    def __init__(self, reason: RejectReason, message: str) -> None:
        super().__init__(message)
        self.rejection = Rejection(reason, message)
