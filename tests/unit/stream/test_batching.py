"""The batch container and the batching policies (pure)."""

import pytest

from iot_pipeline.stream.batching import (
    Batch,
    BatchView,
    EveryPoll,
    EveryPollWhenCaughtUp,
    SizeOrAge,
    WhenCaughtUp,
)

Msg = tuple[str, int, int]


def key(message: Msg) -> tuple[str, int]:
    return message[0], message[1]


def test_empty_batch_is_never_due_and_waits_the_longest() -> None:
    policy = SizeOrAge(max_size=3, max_age=5.0)
    view = Batch[Msg, str]().view()
    assert not policy.is_due(view, 1e9)
    assert policy.wait_time(view, 100.0, 0.5) == 0.5
    assert policy.room(view) == 3
    assert view.messages == 0


def test_batch_is_due_when_full() -> None:
    policy = SizeOrAge(max_size=2, max_age=60.0)
    batch: Batch[Msg, str] = Batch()
    batch.add(10.0, ("t", 0, 1), "a")
    assert not policy.is_due(batch.view(), 10.0)
    assert policy.room(batch.view()) == 1
    batch.add(10.1, ("t", 0, 2), "b")
    assert policy.is_full(batch.view()) and policy.is_due(batch.view(), 10.1)
    assert policy.room(batch.view()) == 1  # never asks the consumer for 0 messages


def test_batch_is_due_after_max_age_from_first_message() -> None:
    policy = SizeOrAge(max_size=100, max_age=5.0)
    batch: Batch[Msg, str] = Batch()
    batch.add(10.0, ("t", 0, 1), "a")
    batch.add(14.0, ("t", 0, 2), "b")
    assert not policy.is_due(batch.view(), 14.9)
    assert policy.is_due(batch.view(), 15.0)
    assert policy.wait_time(batch.view(), 12.0, 10.0) == pytest.approx(3.0)
    assert policy.wait_time(batch.view(), 12.0, 0.5) == 0.5
    assert policy.wait_time(batch.view(), 20.0, 0.5) == 0.0


def test_dead_letters_count_as_messages_but_not_values() -> None:
    policy = SizeOrAge(max_size=1, max_age=5.0)
    batch: Batch[Msg, str] = Batch()
    batch.add_dead(1.0, ("t", 0, 1), "invalid_reading", "value is not a number")
    assert len(batch) == 1 and batch.values == [] and not policy.is_full(batch.view())
    assert policy.is_due(batch.view(), 6.0)
    assert [(d.message, d.reason, d.detail) for d in batch.dead] == [
        (("t", 0, 1), "invalid_reading", "value is not a number")
    ]


def test_drop_partitions_forgets_only_lost_partitions() -> None:
    batch: Batch[Msg, str] = Batch()
    batch.add(1.0, ("t", 0, 1), "a")
    batch.add(1.0, ("t", 1, 1), "b")
    batch.add_dead(1.0, ("t", 1, 2), "r", "x")
    batch.add(1.0, ("t", 0, 2), "c")
    batch.drop_partitions([("t", 1)], key)
    assert batch.values == ["a", "c"]
    assert batch.value_messages == [("t", 0, 1), ("t", 0, 2)]
    assert batch.dead == []
    assert batch.messages == [("t", 0, 1), ("t", 0, 2)]
    batch.drop_partitions([("t", 0)], key)
    assert len(batch) == 0 and batch.started_at is None
    assert not SizeOrAge(10, 5.0).is_due(batch.view(), 100.0)


def test_when_caught_up_writes_a_partial_batch_once_the_consumer_reached_the_end() -> None:
    policy = WhenCaughtUp(SizeOrAge(max_size=100, max_age=5.0))
    assert not policy.is_due(BatchView(0, 0, None, caught_up=True), 0.0)  # nothing to write
    assert not policy.is_due(BatchView(3, 3, 1.0, caught_up=False), 1.5)  # a backlog: fill up
    assert policy.is_due(BatchView(3, 3, 1.0, caught_up=True), 1.5)
    assert policy.is_due(BatchView(100, 100, 1.0), 1.5)  # still SizeOrAge underneath
    assert policy.is_due(BatchView(1, 1, 1.0), 6.0)
    assert policy.room(BatchView(98, 98, 1.0)) == 2


def test_when_caught_up_waits_for_the_first_message_then_tops_up_without_waiting() -> None:
    policy = WhenCaughtUp(SizeOrAge(max_size=100, max_age=5.0))
    empty = BatchView(0, 0, None)
    assert policy.room(empty) == 1  # the blocking poll returns at the first message
    assert policy.wait_time(empty, 2.0, 10.0) == 10.0
    assert policy.room(BatchView(1, 1, 1.0)) == 99
    assert policy.wait_time(BatchView(1, 1, 1.0), 2.0, 10.0) == 0.0  # what is already fetched
    assert policy.room(BatchView(0, 1, 1.0)) == 100  # a dead letter in hand: not empty
    assert policy.wait_time(BatchView(0, 1, 1.0), 2.0, 10.0) == 0.0


def test_every_poll_is_always_due_and_asks_for_its_size() -> None:
    policy = EveryPoll(max_size=10)
    empty = BatchView(0, 0, None)
    assert policy.is_due(empty, 0.0)
    assert policy.room(empty) == 10 and policy.wait_time(empty, 0.0, 1.0) == 1.0
    assert policy.room(BatchView(3, 4, 0.0)) == 6
    assert policy.is_full(BatchView(9, 10, 0.0))


def test_every_poll_when_caught_up_handles_each_message_at_once_and_empty_polls_too() -> None:
    policy = EveryPollWhenCaughtUp(max_size=10)
    empty = BatchView(0, 0, None)
    assert policy.room(empty) == 1 and policy.wait_time(empty, 0.0, 1.0) == 1.0
    assert policy.is_due(empty, 0.0)  # an empty poll: the step's timers run
    one = BatchView(1, 1, 0.0, caught_up=False)  # asked for one, got it: more may be fetched
    assert not policy.is_due(one, 0.0)
    assert policy.room(one) == 9 and policy.wait_time(one, 0.0, 1.0) == 0.0
    assert policy.is_due(BatchView(4, 4, 0.0, caught_up=True), 0.0)
    assert policy.is_due(BatchView(9, 10, 0.0), 0.0) and policy.is_full(BatchView(9, 10, 0.0))
