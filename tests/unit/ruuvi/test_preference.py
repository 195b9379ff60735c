"""E1 is kept and Format 6 dropped for a tag heard in both (the E1 specification's rule)."""

from __future__ import annotations

import pytest

from iot_pipeline.ruuvi.preference import AirFormatPreference

TAG = "CB:B8:33:4C:88:4F"
OTHER = "CB:B8:33:00:00:01"


def test_format6_passes_until_e1_is_heard_then_is_dropped() -> None:
    pref = AirFormatPreference(hold_seconds=60)
    assert pref.accept(TAG, 6, now=0.0)
    assert pref.accept(TAG, 0xE1, now=1.0)
    assert not pref.accept(TAG, 6, now=1.1)
    assert not pref.accept(TAG, 6, now=61.0)
    assert pref.accept(OTHER, 6, now=2.0)  # another tag is not affected


def test_format6_comes_back_when_e1_stops_for_longer_than_the_hold() -> None:
    pref = AirFormatPreference(hold_seconds=60)
    pref.accept(TAG, 0xE1, now=0.0)
    assert pref.accept(TAG, 6, now=60.5)
    assert len(pref) == 0
    assert pref.accept(TAG, 6, now=61.0)


def test_e1_and_other_formats_are_always_accepted() -> None:
    pref = AirFormatPreference()
    assert all(pref.accept(TAG, fmt, now=0.0) for fmt in (0xE1, 5, 3, 0xE1))


def test_memory_is_bounded_oldest_forgotten_first() -> None:
    pref = AirFormatPreference(hold_seconds=60, max_tags=2)
    pref.accept("A", 0xE1, now=0.0)
    pref.accept("B", 0xE1, now=1.0)
    pref.accept("A", 0xE1, now=2.0)  # A refreshed: B is now the oldest
    pref.accept("C", 0xE1, now=3.0)
    assert len(pref) == 2
    assert pref.accept("B", 6, now=4.0)
    assert not pref.accept("A", 6, now=4.0)
    assert not pref.accept("C", 6, now=4.0)


@pytest.mark.parametrize(("hold", "tags"), [(-1.0, 1), (1.0, 0)])
def test_bad_arguments(hold: float, tags: int) -> None:
    with pytest.raises(ValueError):
        AirFormatPreference(hold_seconds=hold, max_tags=tags)
