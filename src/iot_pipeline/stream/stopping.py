"""Graceful stop of a consumer service: SIGTERM/SIGINT set an event the loop watches."""

from __future__ import annotations

import signal
import threading
from types import FrameType

from loguru import logger


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT (call from main(): it installs signal handlers). The
    loop then writes and commits the batch in hand before closing."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("signal {} received: finishing the current batch", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop
