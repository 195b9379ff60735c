"""Pure batching and retry policy of the sink (no I/O, clock passed in)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from iot_pipeline.storage.rows import Row

M = TypeVar("M")


@dataclass
class Batch(Generic[M]):
    """Messages waiting to be written: rows to store and poison messages to dead-letter.

    Every message of a batch, stored or dead-lettered, is covered by the offsets committed after the
    batch is written, so ``messages`` keeps them all in arrival order.
    """

    max_size: int
    max_age: float
    started_at: float | None = None
    messages: list[M] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    row_messages: list[M] = field(default_factory=list)
    dead: list[tuple[M, str, str]] = field(default_factory=list)
    newest_event_times: list[float] = field(default_factory=list)

    def _touch(self, now: float, message: M) -> None:
        if self.started_at is None:
            self.started_at = now
        self.messages.append(message)

    def add_row(self, now: float, message: M, row: Row, event_time: float) -> None:
        self._touch(now, message)
        self.rows.append(row)
        self.row_messages.append(message)
        self.newest_event_times.append(event_time)

    def add_dead(self, now: float, message: M, reason: str, detail: str) -> None:
        self._touch(now, message)
        self.dead.append((message, reason, detail))

    def __len__(self) -> int:
        return len(self.messages)

    def is_full(self) -> bool:
        return len(self.rows) >= self.max_size

    def is_due(self, now: float) -> bool:
        """Full, or holding something for at least ``max_age`` seconds."""
        if not self.messages:
            return False
        assert self.started_at is not None
        return self.is_full() or now - self.started_at >= self.max_age

    def wait_time(self, now: float, longest: float) -> float:
        """How long the consumer may block before the batch is due (at most ``longest``)."""
        if self.started_at is None:
            return longest
        return max(0.0, min(longest, self.started_at + self.max_age - now))

    def room(self) -> int:
        return max(1, self.max_size - len(self.rows))

    def drop_partitions(self, lost: Iterable[tuple[str, int]], key: Any) -> None:
        """Forget messages of partitions this consumer no longer owns (their new owner re-reads
        them; writes are idempotent). ``key(message)`` gives a message's (topic, partition)."""
        gone = set(lost)
        keep_rows = [
            (m, r, t)
            for m, r, t in zip(self.row_messages, self.rows, self.newest_event_times, strict=True)
            if key(m) not in gone
        ]
        self.row_messages = [m for m, _, _ in keep_rows]
        self.rows = [r for _, r, _ in keep_rows]
        self.newest_event_times = [t for _, _, t in keep_rows]
        self.dead = [d for d in self.dead if key(d[0]) not in gone]
        self.messages = [m for m in self.messages if key(m) not in gone]
        if not self.messages:
            self.started_at = None
