import pytest

from iot_pipeline.sink.batching import Batch

ROW = ("d", "t")


def key(message: tuple[str, int, int]) -> tuple[str, int]:
    return message[0], message[1]


def test_empty_batch_is_never_due_and_waits_the_longest() -> None:
    batch: Batch[tuple[str, int, int]] = Batch(max_size=3, max_age=5.0)
    assert not batch.is_due(1e9)
    assert batch.wait_time(100.0, 0.5) == 0.5
    assert batch.room() == 3
    assert len(batch) == 0


def test_batch_is_due_when_full() -> None:
    batch: Batch[tuple[str, int, int]] = Batch(max_size=2, max_age=60.0)
    batch.add_row(10.0, ("t", 0, 1), ROW, 1.0)
    assert not batch.is_due(10.0)
    assert batch.room() == 1
    batch.add_row(10.1, ("t", 0, 2), ROW, 2.0)
    assert batch.is_full() and batch.is_due(10.1)
    assert batch.room() == 1  # never asks the consumer for 0 messages


def test_batch_is_due_after_max_age_from_first_message() -> None:
    batch: Batch[tuple[str, int, int]] = Batch(max_size=100, max_age=5.0)
    batch.add_row(10.0, ("t", 0, 1), ROW, 1.0)
    batch.add_row(14.0, ("t", 0, 2), ROW, 2.0)
    assert not batch.is_due(14.9)
    assert batch.is_due(15.0)
    assert batch.wait_time(12.0, 10.0) == pytest.approx(3.0)
    assert batch.wait_time(12.0, 0.5) == 0.5
    assert batch.wait_time(20.0, 0.5) == 0.0


def test_dead_letters_count_as_messages_but_not_rows() -> None:
    batch: Batch[tuple[str, int, int]] = Batch(max_size=1, max_age=5.0)
    batch.add_dead(1.0, ("t", 0, 1), "invalid_reading", "value is not a number")
    assert len(batch) == 1 and batch.rows == [] and not batch.is_full()
    assert batch.is_due(6.0)
    assert batch.dead == [(("t", 0, 1), "invalid_reading", "value is not a number")]


def test_drop_partitions_forgets_only_lost_partitions() -> None:
    batch: Batch[tuple[str, int, int]] = Batch(max_size=10, max_age=5.0)
    batch.add_row(1.0, ("t", 0, 1), ("a",), 1.0)
    batch.add_row(1.0, ("t", 1, 1), ("b",), 2.0)
    batch.add_dead(1.0, ("t", 1, 2), "r", "x")
    batch.add_row(1.0, ("t", 0, 2), ("c",), 3.0)
    batch.drop_partitions([("t", 1)], key)
    assert batch.rows == [("a",), ("c",)]
    assert batch.row_messages == [("t", 0, 1), ("t", 0, 2)]
    assert batch.newest_event_times == [1.0, 3.0]
    assert batch.dead == []
    assert batch.messages == [("t", 0, 1), ("t", 0, 2)]
    batch.drop_partitions([("t", 0)], key)
    assert len(batch) == 0 and batch.started_at is None and not batch.is_due(100.0)
