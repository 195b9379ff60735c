"""The batch in hand and the policies that say when it is written (pure: no I/O, clock passed in).

A :class:`Batch` keeps every message it covers, in arrival order: the values the service's step
will write, and the messages that go to the dead-letter topic (or are skipped). The offsets
committed after the batch is written cover them all; offsets travel with the data.

A :class:`BatchPolicy` looks at a :class:`BatchView` (sizes, age, whether the consumer has caught
up with the end of its partitions) and the current clock, and answers: how many messages to ask
the consumer for, how long to block for them, and whether the batch is due. Policies are small
frozen objects, so a service picks one (or writes its own) without touching the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from confluent_kafka import Message

T = TypeVar("T")
M = TypeVar("M")

PartitionKey = tuple[str, int]


def partition_key(message: Message) -> PartitionKey:
    """A consumed message's (topic, partition)."""
    topic, partition = message.topic(), message.partition()
    return ("" if topic is None else topic, -1 if partition is None else partition)


@dataclass(frozen=True, slots=True)
class DeadLetter(Generic[M]):
    """A message that will not be written: dead-lettered (or skipped) before the commit."""

    message: M
    reason: str
    detail: str


@dataclass
class Batch(Generic[M, T]):
    """Messages waiting to be written: ``values`` (with ``value_messages``, index for index) and
    ``dead``. ``messages`` keeps all of them in arrival order, for the commit."""

    started_at: float | None = None
    messages: list[M] = field(default_factory=list)
    values: list[T] = field(default_factory=list)
    value_messages: list[M] = field(default_factory=list)
    dead: list[DeadLetter[M]] = field(default_factory=list)

    def _touch(self, now: float, message: M) -> None:
        if self.started_at is None:
            self.started_at = now
        self.messages.append(message)

    def add(self, now: float, message: M, value: T) -> None:
        self._touch(now, message)
        self.values.append(value)
        self.value_messages.append(message)

    def add_dead(self, now: float, message: M, reason: str, detail: str) -> None:
        self._touch(now, message)
        self.dead.append(DeadLetter(message, reason, detail))

    def __len__(self) -> int:
        return len(self.messages)

    def view(self, *, caught_up: bool = False) -> BatchView:
        return BatchView(len(self.values), len(self.messages), self.started_at, caught_up)

    def drop_partitions(
        self, lost: Iterable[PartitionKey], key: Callable[[M], PartitionKey]
    ) -> None:
        """Forget messages of partitions this consumer no longer owns (their new owner re-reads
        them from the last commit). ``key(message)`` gives a message's (topic, partition)."""
        gone = set(lost)
        kept = [
            (m, v)
            for m, v in zip(self.value_messages, self.values, strict=True)
            if key(m) not in gone
        ]
        self.value_messages = [m for m, _ in kept]
        self.values = [v for _, v in kept]
        self.dead = [d for d in self.dead if key(d.message) not in gone]
        self.messages = [m for m in self.messages if key(m) not in gone]
        if not self.messages:
            self.started_at = None


@dataclass(frozen=True, slots=True)
class BatchView:
    """What a policy sees of the batch in hand."""

    size: int  # values to write (dead letters excluded)
    messages: int  # every message the batch covers, dead letters included
    started_at: float | None  # clock time of the first message; None while empty
    caught_up: bool = False  # the last poll returned fewer messages than asked for


class BatchPolicy(Protocol):
    """When the batch in hand is written. Pure; ``now`` is the loop's monotonic clock."""

    def room(self, view: BatchView) -> int:
        """How many messages to ask the consumer for (at least 1)."""
        ...

    def is_full(self, view: BatchView) -> bool:
        """No more messages should be added before the batch is written."""
        ...

    def is_due(self, view: BatchView, now: float) -> bool:
        """Write the batch now."""
        ...

    def wait_time(self, view: BatchView, now: float, longest: float) -> float:
        """How long the consumer may block for messages (at most ``longest``)."""
        ...


@dataclass(frozen=True, slots=True)
class SizeOrAge:
    """Write when ``max_size`` values are in hand, or ``max_age`` seconds after the first message
    arrived (the TimescaleDB sink's policy). An empty batch is never due."""

    max_size: int
    max_age: float

    def room(self, view: BatchView) -> int:
        return max(1, self.max_size - view.size)

    def is_full(self, view: BatchView) -> bool:
        return view.size >= self.max_size

    def is_due(self, view: BatchView, now: float) -> bool:
        if not view.messages or view.started_at is None:
            return False
        return self.is_full(view) or now - view.started_at >= self.max_age

    def wait_time(self, view: BatchView, now: float, longest: float) -> float:
        if view.started_at is None:
            return longest
        return max(0.0, min(longest, view.started_at + self.max_age - now))


@dataclass(frozen=True, slots=True)
class WhenCaughtUp:
    """``inner``, but also write as soon as a poll found the consumer at the end of its
    partitions (fewer messages than asked for): low latency when the stream is slow, full
    batches when there is a backlog.

    A poll blocks until it has all it asked for or its timeout expires, so an empty batch asks
    for one message (the poll returns the moment one arrives) and a batch in hand is topped up
    without waiting (what is already fetched, then caught up). Batches grow by themselves with
    the load: whatever arrives while one is written makes the next."""

    inner: SizeOrAge

    def room(self, view: BatchView) -> int:
        if view.messages == 0:
            return 1
        return self.inner.room(view)

    def is_full(self, view: BatchView) -> bool:
        return self.inner.is_full(view)

    def is_due(self, view: BatchView, now: float) -> bool:
        return self.inner.is_due(view, now) or (view.messages > 0 and view.caught_up)

    def wait_time(self, view: BatchView, now: float, longest: float) -> float:
        if view.messages:
            return 0.0
        return self.inner.wait_time(view, now, longest)


@dataclass(frozen=True, slots=True)
class EveryPoll:
    """Write what each poll brought before polling again (up to ``max_size`` messages), even
    nothing: the step's ``write`` then runs on every cycle, which the alert consumer uses for its
    timed rules."""

    max_size: int

    def room(self, view: BatchView) -> int:
        return max(1, self.max_size - view.messages)

    def is_full(self, view: BatchView) -> bool:
        return view.messages >= self.max_size

    def is_due(self, view: BatchView, now: float) -> bool:
        return True

    def wait_time(self, view: BatchView, now: float, longest: float) -> float:
        return longest


@dataclass(frozen=True, slots=True)
class EveryPollWhenCaughtUp:
    """:class:`EveryPoll` without the wait: an empty batch asks for one message (the poll
    returns the moment one arrives, or at its timeout with none: an empty write, for the
    step's timers), a batch in hand is topped up with what is already fetched, and it is
    written once the consumer has caught up or ``max_size`` messages are in hand. At light load
    each message is handled within milliseconds instead of at the poll's timeout."""

    max_size: int

    def room(self, view: BatchView) -> int:
        return 1 if view.messages == 0 else max(1, self.max_size - view.messages)

    def is_full(self, view: BatchView) -> bool:
        return view.messages >= self.max_size

    def is_due(self, view: BatchView, now: float) -> bool:
        return view.messages == 0 or view.caught_up or self.is_full(view)

    def wait_time(self, view: BatchView, now: float, longest: float) -> float:
        return longest if view.messages == 0 else 0.0
