"""The consumer loop's ordering guarantees with in-memory stand-ins for Kafka (unit level)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.schema_registry.error import SchemaRegistryError

from iot_pipeline.retry import Backoff
from iot_pipeline.stream import (
    Batch,
    ConsumerLoop,
    DeadLetterQueue,
    EveryPoll,
    Rejected,
    Rejection,
    SizeOrAge,
    StepBase,
    StopPatience,
    Transient,
    start_offsets,
)

TOPIC = "in"
# The same journal either way: a batch written in the background is still written, dead-lettered
# and committed before the next one.
BOTH_WAYS = pytest.mark.parametrize("background", [False, True], ids=["inline", "background"])


class Msg:
    def __init__(self, partition: int, offset: int, value: Any) -> None:
        self._partition, self._offset, self._value = partition, offset, value

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> Any:
        return self._value

    def key(self) -> bytes:
        return b"k"

    def headers(self) -> list[tuple[str, bytes]]:
        return [("trace", b"1")]

    def error(self) -> None:
        return None


class Consumer:
    def __init__(self, batches: list[list[Msg]], journal: list[Any], stop: threading.Event):
        self.batches, self.journal, self.stop = list(batches), journal, stop
        self.callbacks: dict[str, Callable[..., None]] = {}
        self.assigned: list[TopicPartition] = []
        self.commit_modes: list[bool] = []  # asynchronous or not, per commit

    def subscribe(self, topics: list[str], **callbacks: Callable[..., None]) -> None:
        self.callbacks = callbacks

    def consume(self, num_messages: int, timeout: float) -> list[Msg]:
        if not self.batches:
            self.stop.set()
            return []
        return self.batches.pop(0)

    def assignment(self) -> list[TopicPartition]:
        return self.assigned

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.journal.append("pause")

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.journal.append("resume")

    def incremental_assign(self, partitions: list[TopicPartition]) -> None:
        self.journal.append(("assign", [(tp.partition, tp.offset) for tp in partitions]))

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        self.commit_modes.append(asynchronous)
        self.journal.append(("commit", [(tp.partition, tp.offset) for tp in offsets]))

    def close(self) -> None:
        self.journal.append("close")


class Producer:
    """Refuses the first ``refusals`` records (reported on flush)."""

    def __init__(self, journal: list[Any], refusals: int = 0) -> None:
        self.journal, self.refusals = journal, refusals
        self.queue: list[tuple[dict[str, bytes], Any]] = []
        self.headers: list[dict[str, bytes]] = []

    def produce(self, topic: str, value: Any, key: bytes, headers: Any, on_delivery: Any) -> None:
        self.queue.append((dict(headers), on_delivery))

    def flush(self, timeout: float) -> int:
        for headers, report in self.queue:
            if self.refusals > 0:
                self.refusals -= 1
                self.journal.append(("dlq-refused", headers["dlq.reason"].decode()))
                report(KafkaError(KafkaError._MSG_TIMED_OUT), None)
            else:
                self.headers.append(headers)
                self.journal.append(("dlq", headers["dlq.reason"].decode()))
                report(None, None)
        self.queue = []
        return 0


class Step(StepBase[int]):
    def __init__(self, journal: list[Any], failures: int = 0) -> None:
        self.journal, self.failures = journal, failures
        self.start: list[TopicPartition] | None = None

    def transform(self, message: Any, record: Mapping[str, Any]) -> int:
        if record["n"] < 0:
            raise Rejected("invalid", f"negative: {record['n']}")
        return int(record["n"])

    def write(self, batch: Batch[Any, int]) -> list[Rejection]:
        if self.failures:
            self.failures -= 1
            self.journal.append("write-failed")
            raise Transient("down")
        self.journal.append(("write", list(batch.values)))
        return [Rejection(i, "refused", "too big") for i, v in enumerate(batch.values) if v > 99]

    def on_assign(self, partitions: Sequence[TopicPartition]) -> list[TopicPartition] | None:
        return self.start


def decode(message: Msg) -> dict[str, Any] | None:
    value = message.value()
    if isinstance(value, Exception):
        raise value
    return None if value is None else {"n": value}


def make(
    batches: list[list[Msg]],
    *,
    failures: int = 0,
    refusals: int = 0,
    policy: Any = None,
    step: Step | None = None,
    write_in_background: bool = False,
) -> tuple[ConsumerLoop[int], Consumer, Step, Producer, list[Any]]:
    journal: list[Any] = [] if step is None else step.journal
    stop = threading.Event()
    consumer = Consumer(batches, journal, stop)
    consumer.assigned = [TopicPartition(TOPIC, 0)]
    step = step or Step(journal, failures)
    producer = Producer(journal, refusals)
    loop: ConsumerLoop[int] = ConsumerLoop(
        consumer,  # type: ignore[arg-type]
        decode,
        step,
        topics=[TOPIC],
        policy=policy or EveryPoll(10),
        dead_letters=DeadLetterQueue(producer, "dlq", "test-service"),  # type: ignore[arg-type]
        backoff=Backoff(initial=0.0, maximum=0.0),
        patience=StopPatience(attempts=3),
        write_in_background=write_in_background,
    )
    loop._stop = stop
    return loop, consumer, step, producer, journal


@BOTH_WAYS
def test_write_then_dead_letters_then_commit_per_batch(background: bool) -> None:
    batches = [[Msg(0, 0, 1), Msg(0, 1, -1), Msg(0, 2, 100), Msg(0, 3, None)], [Msg(0, 4, 2)]]
    loop, consumer, _, producer, journal = make(batches, write_in_background=background)
    loop.run(consumer.stop)
    assert journal == [
        ("write", [1, 100]),
        ("dlq", "invalid"),
        ("dlq", "deserialization"),
        ("dlq", "refused"),
        ("commit", [(0, 4)]),
        ("write", [2]),
        ("commit", [(0, 5)]),
        ("write", []),  # EveryPoll: the step runs on every cycle, even an empty one
        "close",
    ]
    first = producer.headers[0]
    assert first["trace"] == b"1"  # the original headers are kept
    assert first["dlq.error"] == b"negative: -1"
    assert first["dlq.source.offset"] == b"1"
    assert first["dlq.service"] == b"test-service"
    assert producer.headers[1]["dlq.error"] == b"empty value"


@BOTH_WAYS
def test_a_failing_write_pauses_retries_and_resumes_before_the_commit(background: bool) -> None:
    loop, consumer, _, _, journal = make(
        [[Msg(0, 0, 1)]], failures=2, write_in_background=background
    )
    loop.run(consumer.stop)
    assert journal[:6] == [
        "write-failed",
        "pause",
        "write-failed",
        "pause",
        ("write", [1]),
        "resume",
    ]
    assert journal[6] == ("commit", [(0, 1)])


@BOTH_WAYS
def test_refused_dead_letters_are_produced_again_before_the_commit(background: bool) -> None:
    loop, consumer, _, _, journal = make(
        [[Msg(0, 0, -1)]], refusals=1, write_in_background=background
    )
    loop.run(consumer.stop)
    assert journal[:6] == [
        ("write", []),
        ("dlq-refused", "invalid"),
        "pause",
        ("dlq", "invalid"),
        "resume",
        ("commit", [(0, 1)]),
    ]


@BOTH_WAYS
def test_stop_gives_up_on_a_failing_write_without_committing(background: bool) -> None:
    loop, consumer, _, _, journal = make(
        [[Msg(0, 0, 1)]], failures=100, write_in_background=background
    )
    consumer.stop.set()  # stop already requested: the last batch gets StopPatience(attempts=3)
    loop._batch.add(0.0, Msg(0, 0, 1), 1)  # type: ignore[arg-type]
    loop.run(consumer.stop)
    assert journal.count("write-failed") == 4
    assert not any(isinstance(e, tuple) and e[0] == "commit" for e in journal)
    assert journal[-1] == "close"


def test_stop_while_the_registry_is_unreachable_commits_nothing() -> None:
    outage = SchemaRegistryError(503, 50301, "unavailable")
    loop, consumer, _, _, journal = make([[Msg(0, 0, 1), Msg(0, 1, outage)]])
    original = consumer.pause

    def pause_then_stop(partitions: list[TopicPartition]) -> None:
        original(partitions)
        consumer.stop.set()

    consumer.pause = pause_then_stop  # type: ignore[method-assign]
    loop.run(consumer.stop)
    assert journal == ["pause", "close"]


@BOTH_WAYS
def test_size_or_age_writes_the_partial_batch_on_stop_and_waits_for_that_commit(
    background: bool,
) -> None:
    loop, consumer, _, _, journal = make(
        [[Msg(0, 0, 1)]], policy=SizeOrAge(10, 60.0), write_in_background=background
    )
    loop.run(consumer.stop)
    assert journal == [("write", [1]), ("commit", [(0, 1)]), "close"]
    assert consumer.commit_modes == [False]


def test_on_assign_hook_starts_partitions_at_the_offsets_the_step_chose() -> None:
    loop, consumer, step, _, journal = make([])
    step.start = [TopicPartition(TOPIC, 1, 42)]
    loop.run(consumer.stop)
    consumer.callbacks["on_assign"](consumer, [TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)])
    assert journal[-1] == ("assign", [(0, -1001), (1, 42)])
    step.start = None
    before = len(journal)
    consumer.callbacks["on_assign"](consumer, [TopicPartition(TOPIC, 2)])
    assert len(journal) == before  # nothing chosen: the client assigns the committed offsets


def test_on_assign_falls_back_to_assign_under_an_eager_strategy() -> None:
    loop, consumer, step, _, journal = make([])
    step.start = [TopicPartition(TOPIC, 0, 7)]

    def incremental(partitions: list[TopicPartition]) -> None:
        raise KafkaException(KafkaError(KafkaError._STATE))

    consumer.incremental_assign = incremental  # type: ignore[method-assign]
    consumer.assign = lambda ps: journal.append(("eager", [(p.partition, p.offset) for p in ps]))  # type: ignore[attr-defined]
    loop.run(consumer.stop)
    consumer.callbacks["on_assign"](consumer, [TopicPartition(TOPIC, 0)])
    assert journal[-1] == ("eager", [(0, 7)])


@BOTH_WAYS
def test_revoked_partitions_are_dropped_from_the_batch_in_hand(background: bool) -> None:
    loop, consumer, _, _, journal = make(
        [[Msg(0, 0, 1), Msg(1, 0, 2)]], policy=SizeOrAge(10, 60.0), write_in_background=background
    )
    original = consumer.consume

    def consume(num_messages: int, timeout: float) -> list[Msg]:
        taken = original(num_messages, timeout)
        if not taken and not consumer.batches:
            consumer.callbacks["on_revoke"](consumer, [TopicPartition(TOPIC, 1)])
        return taken

    consumer.consume = consume  # type: ignore[method-assign]
    loop.run(consumer.stop)
    assert journal == [("write", [1]), ("commit", [(0, 1)]), "close"]


def test_start_offsets_keeps_the_assignment_order() -> None:
    assigned = [TopicPartition("a", 0), TopicPartition("a", 1)]
    got = start_offsets(assigned, [TopicPartition("a", 1, 5), TopicPartition("b", 0, 9)])
    assert [(tp.topic, tp.partition, tp.offset) for tp in got] == [("a", 0, -1001), ("a", 1, 5)]
