"""The consumer loop with ``write_in_background``: the next batch is read and transformed while
the previous one is written, and nothing else changes (order, commit last, retries, rebalances,
stopping). In-memory stand-ins for Kafka, as in test_loop."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pytest
from confluent_kafka import TopicPartition

from iot_pipeline.stream import Batch, EveryPoll, Rejection, SizeOrAge
from iot_pipeline.stream.background import BackgroundWrite
from tests.unit.stream.test_loop import TOPIC, Msg, Step, make

WAIT = 5.0  # seconds a test waits for the other thread before it counts as not overlapping


class OverlapStep(Step):
    """Its write of the first batch waits until the loop has transformed a record of the next."""

    def __init__(self, journal: list[Any]) -> None:
        super().__init__(journal)
        self.next_transformed = threading.Event()
        self.overlapped: list[bool] = []
        self.writer_threads: set[str] = set()
        self.writes = 0

    def transform(self, message: Any, record: Mapping[str, Any]) -> int:
        if self.writes:
            self.next_transformed.set()
        return super().transform(message, record)

    def write(self, batch: Batch[Any, int]) -> list[Rejection]:
        self.writes += 1
        self.writer_threads.add(threading.current_thread().name)
        if self.writes == 1:
            self.overlapped.append(self.next_transformed.wait(WAIT))
        return super().write(batch)


def test_the_next_batch_is_transformed_while_the_previous_one_is_written() -> None:
    step = OverlapStep([])
    loop, consumer, _, _, journal = make(
        [[Msg(0, 0, 1)], [Msg(0, 1, 2)]], step=step, write_in_background=True
    )
    loop.run(consumer.stop)
    assert step.overlapped == [True]
    assert all(name.startswith("batch-writer") for name in step.writer_threads)
    assert journal[:4] == [
        ("write", [1]),
        ("commit", [(0, 1)]),
        ("write", [2]),
        ("commit", [(0, 2)]),
    ]


def test_without_it_the_loop_writes_on_its_own_thread() -> None:
    step = OverlapStep([])
    step.writes = -100  # never waits: an inline write would wait for itself
    loop, consumer, _, _, _ = make([[Msg(0, 0, 1)], [Msg(0, 1, 2)]], step=step)
    loop.run(consumer.stop)
    assert step.writer_threads == {threading.current_thread().name}


class GatedStep(Step):
    """Its writes wait for ``gate``; counts how many run at once."""

    def __init__(self, journal: list[Any]) -> None:
        super().__init__(journal)
        self.gate = threading.Event()
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()

    def write(self, batch: Batch[Any, int]) -> list[Rejection]:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.gate.wait(WAIT)
        with self.lock:
            self.running -= 1
        return super().write(batch)


def test_one_write_in_flight_at_most_and_its_batch_is_committed_before_the_next_is_written() -> (
    None
):
    step = GatedStep([])
    batches = [[Msg(0, i, i)] for i in range(5)]
    loop, consumer, _, _, journal = make(batches, step=step, write_in_background=True)
    threading.Timer(0.2, step.gate.set).start()
    loop.run(consumer.stop)
    assert step.most == 1
    writes = [e for e in journal if isinstance(e, tuple)]
    assert writes[:10] == [
        entry for i in range(5) for entry in (("write", [i]), ("commit", [(0, i + 1)]))
    ]


def test_a_batch_whose_background_write_failed_is_written_again_before_the_next() -> None:
    loop, consumer, _, _, journal = make(
        [[Msg(0, 0, 1)], [Msg(0, 1, 2)]], failures=1, write_in_background=True
    )
    loop.run(consumer.stop)
    assert journal[:6] == [
        "write-failed",  # on the writer thread
        "pause",  # the loop pauses, backs off and writes the same batch itself
        ("write", [1]),
        "resume",
        ("commit", [(0, 1)]),
        ("write", [2]),
    ]


def test_stopping_commits_the_batch_in_flight_and_waits_for_that_commit() -> None:
    step = GatedStep([])  # the write is still in flight when the stop request is seen
    loop, consumer, _, _, journal = make(
        [[Msg(0, 0, 1)]], step=step, policy=SizeOrAge(1, 60.0), write_in_background=True
    )
    threading.Timer(0.2, step.gate.set).start()
    loop.run(consumer.stop)
    assert journal[:2] == [("write", [1]), ("commit", [(0, 1)])]
    assert journal[-1] == "close"
    assert consumer.commit_modes == [False]  # the last commit before closing waits for the broker


def test_a_bug_in_a_background_write_ends_the_loop_without_a_commit() -> None:
    class Broken(Step):
        def write(self, batch: Batch[Any, int]) -> list[Rejection]:
            raise ZeroDivisionError("bug")

    loop, consumer, _, _, journal = make([[Msg(0, 0, 1)], [Msg(0, 1, 2)]], step=Broken([]))
    loop2, consumer2, _, _, journal2 = make(
        [[Msg(0, 0, 1)], [Msg(0, 1, 2)]], step=Broken([]), write_in_background=True
    )
    for each, stop in ((loop, consumer.stop), (loop2, consumer2.stop)):
        with pytest.raises(ZeroDivisionError):
            each.run(stop)
    for entries in (journal, journal2):
        assert not any(isinstance(e, tuple) and e[0] == "commit" for e in entries)
        assert entries[-1] == "close"


def test_a_revocation_waits_for_the_write_in_flight_and_drops_the_revoked_partitions() -> None:
    step = GatedStep([])
    batches = [[Msg(0, 0, 1), Msg(1, 0, 2), Msg(1, 1, -5)], [Msg(0, 1, 3)]]
    loop, consumer, _, _, journal = make(
        batches, step=step, policy=EveryPoll(10), write_in_background=True
    )
    original = consumer.consume
    revoked = []

    def consume(num_messages: int, timeout: float) -> list[Msg]:
        taken = original(num_messages, timeout)
        if taken and taken[0].offset() == 1 and not revoked:
            threading.Timer(0.2, step.gate.set).start()
            consumer.callbacks["on_revoke"](consumer, [TopicPartition(TOPIC, 1)])
            revoked.append(step.running)  # the write in flight had ended
        return taken

    consumer.consume = consume  # type: ignore[method-assign]
    loop.run(consumer.stop)
    assert revoked == [0]
    assert journal[:3] == [
        ("write", [1, 2]),  # written before the revocation
        ("commit", [(0, 1)]),  # partition 1 is not committed (nor dead-lettered): re-read
        ("write", [3]),
    ]
    assert not any(isinstance(e, tuple) and e[0] == "dlq" for e in journal)


def test_background_write_settles_in_order_and_reports_transient_failures() -> None:
    from iot_pipeline.stream import Transient

    outcomes: list[Any] = [[Rejection(0, "refused", "no")], Transient("down")]

    def write(batch: Batch[Any, int]) -> list[Rejection]:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    writer: BackgroundWrite[int] = BackgroundWrite(write)
    assert writer.settle() is None and not writer.busy
    first: Batch[Any, int] = Batch()
    writer.start(first, 1.0)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        writer.start(Batch(), 2.0)
    ended = writer.settle()
    assert ended is not None and ended.batch is first and ended.started == 1.0
    assert ended.rejections == [Rejection(0, "refused", "no")] and ended.failure is None
    writer.start(Batch(), 3.0)
    ended = writer.settle()
    assert ended is not None and isinstance(ended.failure, Transient)
    assert ended.rejections == ()
    writer.close()
    writer.close()
