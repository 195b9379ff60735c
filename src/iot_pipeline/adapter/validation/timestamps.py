"""A message's timestamp: ISO 8601 or Unix time, checked against the receive time."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Final

from iot_pipeline.adapter.reasons import RejectedError, RejectReason
from iot_pipeline.adapter.validation.fields import short
from iot_pipeline.adapter.validation.results import TimestampSource, ValidationLimits

_EPOCH_TEXT: Final = re.compile(r"\d+(\.\d+)?")
_EPOCH_MS_THRESHOLD: Final = 100_000_000_000  # larger numbers are milliseconds (1973+)


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
    parsed = _parse(value)
    if parsed is None:
        raise RejectedError(
            RejectReason.BAD_TIMESTAMP,
            f"timestamp {short(value)} is neither ISO 8601 nor Unix time",
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


def _parse(value: str | float) -> datetime | None:
    """``value`` as a datetime, None if it is neither ISO 8601 nor Unix time."""
    try:
        if isinstance(value, str):
            text = value.strip()
            if not text or len(text) > 64:
                raise ValueError("empty or too long")
            if _EPOCH_TEXT.fullmatch(text):
                return _from_epoch(float(text))
            parsed = datetime.fromisoformat(text)
            if parsed.tzinfo is None or parsed.utcoffset() is None:
                raise RejectedError(
                    RejectReason.BAD_TIMESTAMP,
                    f"timestamp {short(value)} has no time zone (use Z or +00:00)",
                )
            return parsed
        if isinstance(value, int | float) and not isinstance(value, bool):
            return _from_epoch(float(value))
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _from_epoch(seconds: float) -> datetime:
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("not a finite, non-negative Unix time")
    if seconds >= _EPOCH_MS_THRESHOLD:
        seconds /= 1000
    return datetime.fromtimestamp(seconds, UTC)
