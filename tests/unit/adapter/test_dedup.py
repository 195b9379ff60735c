"""Duplicate suppression: same (tag, sequence) within the window is published once."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from iot_pipeline.adapter.dedup import DuplicateFilter

TAG = "CB:B8:33:4C:88:4F"


def test_second_copy_within_the_window_is_a_duplicate() -> None:
    f = DuplicateFilter(window_seconds=10)
    assert not f.is_duplicate(TAG, 205, now=100.0)
    assert f.is_duplicate(TAG, 205, now=100.5)
    assert f.is_duplicate(TAG, 205, now=110.0)  # the window's edge is inclusive


def test_copy_after_the_window_is_new() -> None:
    f = DuplicateFilter(window_seconds=10)
    assert not f.is_duplicate(TAG, 205, now=100.0)
    assert not f.is_duplicate(TAG, 205, now=110.001)
    assert f.is_duplicate(TAG, 205, now=111.0)


def test_other_tags_and_sequences_are_distinct() -> None:
    f = DuplicateFilter()
    assert not f.is_duplicate(TAG, 205, now=0)
    assert not f.is_duplicate(TAG, 206, now=0)
    assert not f.is_duplicate("E3:75:CF:37:4E:23", 205, now=0)
    assert f.is_duplicate(TAG, 206, now=1)


def test_readings_without_sequence_are_never_duplicates() -> None:
    f = DuplicateFilter()
    assert not f.is_duplicate(TAG, None, now=0)
    assert not f.is_duplicate(TAG, None, now=0)
    assert len(f) == 0


def test_memory_is_bounded_oldest_first() -> None:
    f = DuplicateFilter(window_seconds=1000, max_entries=3)
    for seq in range(5):
        assert not f.is_duplicate(TAG, seq, now=float(seq))
    assert len(f) == 3
    assert not f.is_duplicate(TAG, 0, now=5)  # evicted, so seen as new
    assert f.is_duplicate(TAG, 4, now=5)


def test_expired_entries_are_dropped() -> None:
    f = DuplicateFilter(window_seconds=5)
    for seq in range(100):
        f.is_duplicate(TAG, seq, now=0)
    f.is_duplicate(TAG, 1000, now=6)
    assert len(f) == 1


def test_forget_allows_a_redelivered_copy() -> None:
    f = DuplicateFilter()
    assert not f.is_duplicate(TAG, 7, now=0)
    f.forget(TAG, 7)
    f.forget(TAG, 8)
    f.forget(TAG, None)
    assert not f.is_duplicate(TAG, 7, now=1)


@pytest.mark.parametrize(("window", "size"), [(-1, 10), (1, 0)])
def test_invalid_arguments(window: float, size: int) -> None:
    with pytest.raises(ValueError):
        DuplicateFilter(window_seconds=window, max_entries=size)


events = st.lists(
    st.tuples(st.sampled_from(["A", "B"]), st.integers(0, 3), st.floats(0, 4)),
    max_size=60,
)


@given(events)
def test_matches_a_naive_reference_when_memory_suffices(
    batch: list[tuple[str, int, float]],
) -> None:
    f = DuplicateFilter(window_seconds=3, max_entries=1000)
    first_seen: dict[tuple[str, int], float] = {}
    now = 0.0
    for tag, seq, step in batch:
        now += step
        key = (tag, seq)
        expected = key in first_seen and now - first_seen[key] <= 3
        if not expected:
            first_seen[key] = now
        assert f.is_duplicate(tag, seq, now) is expected
        assert len(f) <= 8
