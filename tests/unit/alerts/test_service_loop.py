"""The service loop's ordering guarantees, with in-memory stand-ins for Kafka (unit level only).

The real clients are exercised in tests/e2e/alerts; here the point is the order of operations:
input offsets are committed only after the alert events they caused were delivered.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from confluent_kafka import KafkaError
from prometheus_client import CollectorRegistry

from iot_pipeline.alerts.config import KindRules, RulesConfig
from iot_pipeline.alerts.engine import AlertEngine
from iot_pipeline.alerts.metrics import AlertMetrics
from iot_pipeline.alerts.service import AlertService
from iot_pipeline.retry import Backoff


class Msg:
    def __init__(self, offset: int, record: dict | None, partition: int = 0) -> None:
        self._offset, self.record, self._partition = offset, record, partition

    def error(self):
        return None

    def topic(self) -> str:
        return "readings"

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset


class FakeConsumer:
    def __init__(self, batches, journal, stop) -> None:
        self.batches, self.journal, self.stop = list(batches), journal, stop

    def subscribe(self, topics, on_assign, on_revoke, on_lost) -> None:
        self.journal.append(("subscribe", tuple(topics)))

    def consume(self, num_messages, timeout):
        """The next scripted batch, at most ``num_messages`` of it (the rest comes next)."""
        if not self.batches:
            self.stop.set()
            return []
        taken, rest = self.batches[0][:num_messages], self.batches[0][num_messages:]
        if rest:
            self.batches[0] = rest
        else:
            self.batches.pop(0)
        return taken

    def commit(self, offsets, asynchronous):
        self.journal.append(("commit", [(tp.partition, tp.offset) for tp in offsets]))

    def assignment(self):
        return []

    def close(self) -> None:
        self.journal.append(("close",))


class FakePublisher:
    """Delivers on flush; the first ``failures`` deliveries fail."""

    def __init__(self, journal, failures: int = 0, never: bool = False) -> None:
        self.journal, self.failures, self.never = journal, failures, never
        self.queue: list = []

    def produce(self, key, value, on_delivery) -> None:
        self.queue.append((key, value, on_delivery))

    def flush(self, timeout: float) -> int:
        for key, value, report in self.queue:
            if self.never or self.failures > 0:
                self.failures -= 1
                self.journal.append(("failed", key, value["event_type"]))
                report(KafkaError(KafkaError._MSG_TIMED_OUT), None)
            else:
                self.journal.append(("delivered", key, value["event_type"]))
                report(None, None)
        self.queue = []
        return 0


class NoLog:
    def catch_up(self, apply) -> int:
        return 0

    def close(self) -> None:
        pass


def reading(ms: int, value: float) -> dict:
    return {
        "device_id": "d",
        "device_type": "temperature",
        "timestamp": datetime.fromtimestamp(ms / 1000, UTC),
        "value": value,
        "unit": "°C",
    }


def run(batches, publisher_failures=0, never=False, stop_during_retry=False):
    journal: list = []
    stop = threading.Event()
    consumer = FakeConsumer(batches, journal, stop)
    publisher = FakePublisher(journal, publisher_failures, never)
    config = RulesConfig(
        kinds={"temperature": KindRules(high=50.0, statistical=False)},
        default_kind=KindRules(statistical=False),
        clear_after=1,
    )
    service = AlertService(
        consumer,
        lambda m: m.record,
        publisher,
        NoLog(),
        AlertEngine(config),
        AlertMetrics(CollectorRegistry()),
        topic="readings",
        batch_size=10,
        tick_interval=3600,
        backoff=Backoff(initial=0.0, maximum=0.0),
    )
    if stop_during_retry:
        original = publisher.flush

        def flush_then_stop(timeout):
            stop.set()
            return original(timeout)

        publisher.flush = flush_then_stop
    service.run(stop)
    return journal


def test_offsets_are_committed_after_the_events_they_caused_are_delivered():
    journal = run(
        [[Msg(0, reading(1000, 20.0)), Msg(1, reading(2000, 60.0))], [Msg(2, reading(3000, 20.0))]]
    )
    assert journal == [
        ("subscribe", ("readings",)),
        ("delivered", "d|threshold_high", "fired"),
        ("commit", [(0, 2)]),
        ("delivered", "d|threshold_high", "resolved"),
        ("commit", [(0, 3)]),
        ("close",),
    ]


def test_a_failed_delivery_is_retried_before_the_commit():
    journal = run([[Msg(0, reading(1000, 60.0))]], publisher_failures=2)
    assert journal == [
        ("subscribe", ("readings",)),
        ("failed", "d|threshold_high", "fired"),
        ("failed", "d|threshold_high", "fired"),
        ("delivered", "d|threshold_high", "fired"),
        ("commit", [(0, 1)]),
        ("close",),
    ]


def test_undeliverable_events_leave_the_readings_uncommitted_on_stop():
    journal = run([[Msg(0, reading(1000, 60.0))]], never=True, stop_during_retry=True)
    assert [entry[0] for entry in journal] == [
        "subscribe",
        "failed",
        "failed",
        "failed",
        "failed",
        "close",
    ]


def test_bad_messages_are_counted_skipped_and_committed():
    journal = run([[Msg(0, None), Msg(1, {"device_id": "d"}), Msg(2, reading(1000, 20.0))]])
    assert journal == [("subscribe", ("readings",)), ("commit", [(0, 3)]), ("close",)]
