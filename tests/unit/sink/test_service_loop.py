"""The sink loop's ordering guarantees, with in-memory stand-ins for Kafka and the database."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, TopicPartition
from prometheus_client import CollectorRegistry

from iot_pipeline.retry import Backoff
from iot_pipeline.sink.metrics import SinkMetrics
from iot_pipeline.sink.service import SinkService
from iot_pipeline.storage.rows import Row

TOPIC = "readings"
T0 = datetime(2026, 11, 23, tzinfo=UTC)


class FakeMessage:
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

    def headers(self) -> None:
        return None

    def timestamp(self) -> tuple[int, int]:
        return (TIMESTAMP_CREATE_TIME, int(T0.timestamp() * 1000) + 9_990)  # 10 ms before "now"

    def error(self) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeConsumer:
    """Delivers scripted messages, then sets ``stop`` once everything was delivered and
    ``idle_polls`` empty polls went by."""

    def __init__(
        self, messages: list[FakeMessage], events: list[Any], clock: Clock, stop: threading.Event
    ) -> None:
        self.pending = list(messages)
        self.events = events
        self.clock = clock
        self.stop = stop
        self.idle_polls = 3
        self.paused = False
        self.assigned = [TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)]
        self.callbacks: dict[str, Callable[..., None]] = {}
        self.hook: Callable[[], None] | None = None
        self.commit_modes: list[bool] = []

    def subscribe(self, topics: list[str], **callbacks: Callable[..., None]) -> None:
        self.callbacks = callbacks

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        self.clock.now += timeout if timeout > 0 else 0.01
        if self.hook is not None:
            self.hook()
        if self.paused:
            return []
        taken, self.pending = self.pending[:num_messages], self.pending[num_messages:]
        if not taken:
            self.idle_polls -= 1
            if self.idle_polls <= 0:
                self.stop.set()
        return taken

    def assignment(self) -> list[TopicPartition]:
        return self.assigned

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused = True
        self.events.append(("pause",))

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused = False
        self.events.append(("resume",))

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        self.events.append(("commit", sorted((tp.partition, tp.offset) for tp in offsets)))
        self.commit_modes.append(asynchronous)

    def close(self) -> None:
        self.events.append(("close",))


class FakeProducer:
    def __init__(self, events: list[Any]) -> None:
        self.events = events
        self.produced: list[tuple[str, Any, dict[str, bytes]]] = []

    def produce(self, topic: str, value: Any, key: bytes, headers: Any, on_delivery: Any) -> None:
        self.produced.append((topic, value, dict(headers)))
        self.events.append(("dlq", dict(headers)["dlq.reason"].decode()))
        on_delivery(None, None)

    def flush(self, timeout: float) -> int:
        return 0


class PgError(Exception):
    def __init__(self, pgcode: str | None) -> None:
        super().__init__(f"pgcode {pgcode}")
        self.pgcode = pgcode


class FakeStore:
    def __init__(self, events: list[Any], failures: Sequence[Exception] = ()) -> None:
        self.events = events
        self.failures = list(failures)
        self.stored: list[Row] = []

    def write(self, rows: Sequence[Row]) -> int:
        if self.failures:
            self.events.append(("write-failed", len(rows)))
            raise self.failures.pop(0)
        self.stored += rows
        self.events.append(("write", len(rows)))
        return len(rows)

    def write_one_by_one(self, rows: Sequence[Row]) -> list[Exception | None]:
        results: list[Exception | None] = []
        for row in rows:
            if row[2] is None:  # this test's poison: no unit... see reading()
                results.append(PgError("23502"))
            else:
                self.stored.append(row)
                results.append(None)
        self.events.append(("write-one-by-one", len(rows)))
        return results


def reading(i: int, **changes: Any) -> dict[str, Any]:
    record = {
        "device_id": f"dev-{i}",
        "device_type": "temperature_sensor",
        "timestamp": T0 + timedelta(seconds=i),
        "value": float(i),
        "unit": "°C",
    }
    record.update(changes)
    return record


def decode(message: FakeMessage) -> Any:
    value = message.value()
    if isinstance(value, Exception):
        raise value
    return value


def make_service(
    messages: list[FakeMessage],
    store_failures: Sequence[Exception] = (),
    batch_size: int = 2,
    store: FakeStore | None = None,
    when_caught_up: bool = False,
) -> tuple[SinkService, list[Any], FakeConsumer, FakeStore, FakeProducer, SinkMetrics]:
    events: list[Any] = []
    clock = Clock()
    stop = threading.Event()
    consumer = FakeConsumer(messages, events, clock, stop)
    store = store or FakeStore(events, store_failures)
    store.events = events
    producer = FakeProducer(events)
    metrics = SinkMetrics(CollectorRegistry())
    service = SinkService(
        consumer,  # type: ignore[arg-type]
        decode,
        store,
        producer,  # type: ignore[arg-type]
        topic=TOPIC,
        dlq_topic="dlq",
        batch_size=batch_size,
        commit_interval=5.0,
        metrics=metrics,
        write_when_caught_up=when_caught_up,
        backoff=Backoff(initial=0.5, maximum=1.0),
        clock=clock,
        wall_clock=lambda: T0.timestamp() + 10,
    )
    service._stop = stop
    return service, events, consumer, store, producer, metrics


def run(service: SinkService, consumer: FakeConsumer) -> None:
    service.run(consumer.stop)


def test_batches_by_size_and_commits_only_after_each_write() -> None:
    messages = [FakeMessage(i % 2, i // 2, reading(i)) for i in range(5)]
    service, events, consumer, store, _, metrics = make_service(messages)
    run(service, consumer)
    assert events == [
        ("write", 2),
        ("commit", [(0, 1), (1, 1)]),
        ("write", 2),
        ("commit", [(0, 2), (1, 2)]),
        ("write", 1),  # partial batch, written when due (commit interval) or on stop
        ("commit", [(0, 3)]),
        ("close",),
    ]
    assert len(store.stored) == 5
    assert metrics.processed._value.get() == 5
    # Asynchronous while running (the rows are stored already); the last one, on stop, waits.
    assert consumer.commit_modes == [True, True, False]


def test_database_outage_pauses_retries_and_resumes_before_committing() -> None:
    messages = [FakeMessage(0, i, reading(i)) for i in range(2)]
    outage = [PgError(None), OSError("connection refused")]
    service, events, consumer, _store, _, metrics = make_service(messages, outage)
    run(service, consumer)
    # Each wait pauses (again): that also covers partitions assigned during the outage.
    events = [e for i, e in enumerate(events) if not (e == ("pause",) and events[i - 1] == e)]
    assert events[:7] == [
        ("write-failed", 2),
        ("pause",),
        ("write-failed", 2),
        ("pause",),
        ("write", 2),
        ("resume",),
        ("commit", [(0, 2)]),
    ]
    assert metrics.db_errors.labels("transient")._value.get() == 2
    assert metrics.paused._value.get() == 0


def test_poison_goes_to_the_dlq_before_the_commit_that_covers_it() -> None:
    messages = [
        FakeMessage(0, 0, reading(0)),
        FakeMessage(0, 1, ValueError("Unexpected magic byte")),
        FakeMessage(0, 2, reading(2, unit=None)),
        FakeMessage(0, 3, None),
        FakeMessage(0, 4, reading(4)),
    ]
    service, events, consumer, _store, producer, metrics = make_service(messages, batch_size=10)
    run(service, consumer)
    assert events == [
        ("write", 2),
        ("dlq", "deserialization"),
        ("dlq", "invalid_reading"),
        ("dlq", "deserialization"),
        ("commit", [(0, 5)]),
        ("close",),
    ]
    headers = [p[2] for p in producer.produced]
    assert headers[1]["dlq.error"] == b"unit is missing"
    assert headers[0]["dlq.source.offset"] == b"1"
    assert metrics.failed.labels("invalid_reading")._value.get() == 1


def test_rows_the_database_refuses_are_isolated_and_dead_lettered() -> None:
    messages = [FakeMessage(0, i, reading(i)) for i in range(3)]
    events: list[Any] = []
    store = FakeStore(events, [PgError("23502")])
    original = store.write_one_by_one

    def poison_second(rows: Sequence[Row]) -> list[Exception | None]:
        rows = [r if i != 1 else (*r[:2], None, *r[3:]) for i, r in enumerate(rows)]
        return original(rows)

    store.write_one_by_one = poison_second  # type: ignore[method-assign]
    service, events, consumer, store, _producer, metrics = make_service(
        messages, batch_size=3, store=store
    )
    run(service, consumer)
    assert events == [
        ("write-failed", 3),
        ("write-one-by-one", 3),
        ("dlq", "database_rejected"),
        ("commit", [(0, 3)]),
        ("close",),
    ]
    assert len(store.stored) == 2
    assert metrics.db_errors.labels("data")._value.get() == 1


def test_stop_writes_the_partial_batch_before_closing() -> None:
    messages = [FakeMessage(0, 0, reading(0))]
    service, events, consumer, _store, _, _ = make_service(messages, batch_size=100)
    consumer.idle_polls = 1  # stop right after the message arrives, long before it is due
    run(service, consumer)
    assert events == [("write", 1), ("commit", [(0, 1)]), ("close",)]


def test_revoked_partitions_are_forgotten_not_committed() -> None:
    messages = [FakeMessage(0, 0, reading(0)), FakeMessage(1, 0, reading(1))]
    service, events, consumer, _store, _, _ = make_service(messages, batch_size=100)

    def revoke_partition_1() -> None:
        if not consumer.pending:
            consumer.callbacks["on_revoke"](consumer, [TopicPartition(TOPIC, 1)])
            consumer.hook = None

    consumer.hook = revoke_partition_1
    run(service, consumer)
    assert events == [("write", 1), ("commit", [(0, 1)]), ("close",)]


@pytest.mark.parametrize("failures", [1, 3])
def test_no_commit_happens_while_writes_fail(failures: int) -> None:
    messages = [FakeMessage(0, i, reading(i)) for i in range(2)]
    service, events, consumer, _, _, _ = make_service(messages, [PgError("57P01")] * failures)
    run(service, consumer)
    first_commit = next(i for i, e in enumerate(events) if e[0] == "commit")
    first_success = next(i for i, e in enumerate(events) if e[0] == "write")
    assert first_success < first_commit
    assert sum(1 for e in events if e[0] == "write-failed") == failures


def test_caught_up_writes_what_each_poll_found_at_once_and_full_batches_of_a_backlog() -> None:
    messages = [FakeMessage(0, i, reading(i)) for i in range(5)]
    service, events, consumer, store, _, metrics = make_service(
        messages, batch_size=3, when_caught_up=True
    )
    arrivals = [[0], [1, 2, 3, 4]]  # one reading; once it is written, a backlog of four

    def trickle() -> None:
        written = sum(1 for e in events if e[0] == "write")
        if arrivals and written >= 2 - len(arrivals):
            consumer.pending += [messages[i] for i in arrivals.pop(0)]

    consumer.pending, consumer.hook = [], trickle
    run(service, consumer)
    assert [e for e in events if e[0] == "write"] == [("write", 1), ("write", 3), ("write", 1)]
    assert events[-1] == ("close",) and len(store.stored) == 5
    assert consumer.clock.now < 5.0  # no write waited for the commit interval
    observed = metrics.kafka_to_commit.collect()[0].samples
    count = next(s.value for s in observed if s.name.endswith("_count"))
    under = next(s.value for s in observed if s.labels.get("le") == "0.011642")
    assert count == 5 and under == 5  # 10 ms from Kafka to the commit
