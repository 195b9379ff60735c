"""The peers bench's measuring: how fast something arrives (Kafka records, rows), and one run's
state and clean-up (see bench.peers)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Drain:
    count: int  # what arrived (records or rows)
    elapsed: float  # seconds from the first arrival to the last
    cpu: float | None  # CPU seconds of the drainer meanwhile

    def rate(self, units: int) -> float:
        return units / self.elapsed if self.elapsed > 0 else float("inf")


def watch(
    current: Callable[[], int],
    expected: int,
    alive: Callable[[], bool],
    cpu: Callable[[], float | None],
    timeout: float = 600,
) -> Drain:
    """Poll ``current`` until it reaches ``expected`` (or stops moving for 20 s); the drain is
    timed from the first arrival, so the drainer's start-up does not count."""
    cpu_start = cpu()
    first_at: float | None = None
    first = last = 0
    last_change = deadline_base = time.monotonic()
    while True:
        now_count = current()
        now = time.monotonic()
        if now_count != last:
            last, last_change = now_count, now
            if first_at is None:
                first_at, first = now, now_count
        if last >= expected or now - last_change > 20 or now - deadline_base > timeout:
            break
        if not alive():
            raise RuntimeError("the drainer exited; see its log")
        time.sleep(0.05)
    cpu_end = cpu()
    used = None if cpu_start is None or cpu_end is None else cpu_end - cpu_start
    elapsed = last_change - first_at if first_at is not None else 0.0
    # The first poll saw ``first`` already there: scale the time to the whole count.
    span = elapsed * last / max(last - first, 1) if first_at is not None else 0.0
    return Drain(last, span, used)


@dataclass
class _Run:
    cfg: object
    suffix: str
    workdir: Path
    telegraf: Path
    cleanup: list[Callable[[], None]]

    def later(self, action: Callable[[], None]) -> None:
        self.cleanup.append(action)
