"""One MQTT message as the session hands it on, and how it is acknowledged (no paho here)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple


class Incoming(NamedTuple):
    """One MQTT message as read from the broker (a NamedTuple: built once per message, and
    cheaper to build than a frozen dataclass)."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    received_at: datetime
    received_mono: float


# Acknowledges one MQTT message to the broker: (packet id, QoS).
Acknowledge = Callable[[int, int], None]
