"""What every reader of ``iot_sensor_reading`` records shares (pure): the epoch of Avro's
``timestamp-millis`` and the one error for a record that is not a usable reading."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class InvalidReading(ValueError):
    """A decoded record that is not a usable reading (the sink cannot store it, the rules cannot
    evaluate it). ``reason`` is short: it goes into dead-letter headers and logs."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
