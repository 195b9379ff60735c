"""One batch written on a thread of its own while the loop reads and transforms the next.

Why: a sink's ``write`` spends much of its time waiting for its destination (PostgreSQL parses,
indexes and stores a COPY while the client waits for the result), and the loop's own work per
record (decoding, transforming) waits behind it. The database driver releases Python's GIL while
it waits on the socket, so with the write on a second thread the next batch is decoded on one
core while the destination stores the previous one on the other.

What does not change: at most one write is in flight, so at most two batches are in memory (the
loop waits for the write in flight before it hands over the next one: bounded back-pressure);
batches are written, dead-lettered and committed in order, each only after its write ended
(offsets still travel with their batch); a write that raised
:class:`~iot_pipeline.stream.step.Transient` is written again by the loop, with the usual pause
and backoff, before anything after it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from confluent_kafka import Message

from iot_pipeline.stream.batching import Batch
from iot_pipeline.stream.step import Rejection, Transient

T = TypeVar("T")

WriteBatch = Callable[[Batch[Message, T]], Sequence[Rejection]]


@dataclass(frozen=True, slots=True)
class Ended(Generic[T]):
    """A background write that ended: its batch, when it was handed over (loop clock), and
    either the values the destination refused or the :class:`Transient` failure."""

    batch: Batch[Message, T]
    started: float
    rejections: Sequence[Rejection]
    failure: Transient | None = None


class BackgroundWrite(Generic[T]):
    """Runs ``write`` for one batch at a time on a dedicated thread (``batch-writer``)."""

    def __init__(self, write: WriteBatch[T]) -> None:
        self._write = write
        self._executor: ThreadPoolExecutor | None = None
        self._in_flight: tuple[Batch[Message, T], float, Future[Sequence[Rejection]]] | None = None

    @property
    def busy(self) -> bool:
        """A write is in flight (it may have ended already: see :meth:`ended`)."""
        return self._in_flight is not None

    def ended(self) -> bool:
        """The write in flight has ended; :meth:`settle` returns without waiting."""
        return self._in_flight is not None and self._in_flight[2].done()

    def start(self, batch: Batch[Message, T], started: float) -> None:
        if self._in_flight is not None:
            raise RuntimeError("a batch is already being written; settle it first")
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-writer")
        self._in_flight = (batch, started, self._executor.submit(self._write, batch))

    def settle(self) -> Ended[T] | None:
        """Wait for the write in flight to end; None when there is none. Anything ``write``
        raised other than :class:`Transient` (a bug) is raised here, as the loop would."""
        if self._in_flight is None:
            return None
        batch, started, future = self._in_flight
        self._in_flight = None
        try:
            return Ended(batch, started, future.result())
        except Transient as exc:
            return Ended(batch, started, (), exc)

    def close(self) -> None:
        """Wait for a write still running (never abandon a transaction half-sent), then end the
        thread."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
