"""What a service supplies to the consumer loop: its step, and an observer for its metrics.

A step turns decoded records into values (``transform``, pure apart from in-memory state) and
writes a batch of them (``write``, the only I/O). The loop does everything else: polling,
decoding, batching, dead letters, retries with back-pressure, commits, rebalances, stopping.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from confluent_kafka import Message, TopicPartition

from iot_pipeline.stream.batching import Batch

T = TypeVar("T")


class Transient(Exception):
    """Raised by ``write``: the destination is unreachable; the loop pauses the assigned
    partitions, waits (the project's :class:`~iot_pipeline.retry.Backoff`) and calls ``write``
    again with the same batch. A writer that made partial progress remembers it."""


class Abandon(Exception):
    """Stop without committing the batch in hand (it is re-read on the next start). The loop
    raises it itself when a stop request finds the destination still failing."""


class Rejected(Exception):
    """Raised by ``transform``: this record will never be written. The loop dead-letters it
    (or, without a dead-letter topic, counts and skips it) and commits past it."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Rejection:
    """A value ``write`` could not store (index into ``batch.values``): it is dead-lettered."""

    index: int
    reason: str
    detail: str


class Step(Protocol[T]):
    """The service-specific part of a consumer. Subclass :class:`StepBase` for the defaults."""

    def transform(self, message: Message, record: Mapping[str, Any]) -> T:
        """The value to write for one decoded record; raise :class:`Rejected` for poison."""
        ...

    def write(self, batch: Batch[Message, T]) -> Sequence[Rejection]:
        """Write ``batch.values`` (may be empty); raise :class:`Transient` to retry later.
        With the loop's ``write_in_background`` it runs on the writer thread, concurrently with
        ``transform`` and the hooks."""
        ...

    def on_assign(self, partitions: Sequence[TopicPartition]) -> Sequence[TopicPartition] | None:
        """Partitions were assigned. Return them with the offsets to start from (e.g. offsets
        the step keeps next to its data) to override the committed offsets; None keeps them."""
        ...

    def on_revoke(self, partitions: Sequence[TopicPartition]) -> None:
        """Partitions were revoked or lost; the loop already dropped their uncommitted messages."""
        ...

    def poll_timeout(self, now: float) -> float | None:
        """The longest the loop may block in a poll (e.g. until a timer is due); None: no limit."""
        ...

    def after_cycle(self) -> None:
        """Called once per loop cycle, after any write and commit (housekeeping, gauges)."""
        ...


class StepBase(Generic[T]):
    """Defaults for the optional hooks of :class:`Step`."""

    def on_assign(self, partitions: Sequence[TopicPartition]) -> Sequence[TopicPartition] | None:
        return None

    def on_revoke(self, partitions: Sequence[TopicPartition]) -> None:
        return None

    def poll_timeout(self, now: float) -> float | None:
        return None

    def after_cycle(self) -> None:
        return None


class LoopObserver(Protocol):
    """The loop's events, counted by the service's metrics class (which declares its metrics
    next to these methods, under the names its dashboards and alert rules use)."""

    def on_received(self) -> None:
        """A record was consumed (before decoding)."""
        ...

    def on_rejected(self, reason: str, detail: str) -> None:
        """A record was dead-lettered (or skipped without a dead-letter topic)."""
        ...

    def on_write_failed(self) -> None:
        """``write`` raised :class:`Transient`; it is retried."""
        ...

    def on_paused(self, paused: bool) -> None:
        """Consumption was paused (True) or resumed (False) by back-pressure."""
        ...

    def on_committed(self) -> None:
        """Offsets were committed after a batch."""
        ...

    def on_batch_done(self, seconds: float) -> None:
        """A non-empty batch was written, dead-lettered and committed in ``seconds``."""
        ...


class NullObserver:
    """An observer that counts nothing (tests, tools)."""

    def on_received(self) -> None:
        return None

    def on_rejected(self, reason: str, detail: str) -> None:
        return None

    def on_write_failed(self) -> None:
        return None

    def on_paused(self, paused: bool) -> None:
        return None

    def on_committed(self) -> None:
        return None

    def on_batch_done(self, seconds: float) -> None:
        return None


@dataclass(frozen=True, slots=True)
class StopPatience:
    """How long a failing write or dead-letter delivery is retried once a stop was requested.

    Gives up when the next retry would start after ``seconds`` from the moment the stop was first
    seen, or when ``attempts`` (counted from the first failure) were exceeded. Pure.
    """

    seconds: float = 15.0
    attempts: int | None = None

    def gives_up(self, attempt: int, next_try_at: float, deadline: float) -> bool:
        if self.attempts is not None and attempt > self.attempts:
            return True
        return next_try_at > deadline

    def deadline(self, now: float) -> float:
        return now + self.seconds if math.isfinite(self.seconds) else math.inf
