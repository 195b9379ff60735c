import pytest

from iot_pipeline.lake.roll import RollPolicy


def test_empty_buffer_never_rolls_and_waits_the_longest() -> None:
    policy = RollPolicy(max_bytes=100, max_age=10.0)
    assert not policy.is_due(1e9)
    assert policy.wait_time(5.0, 0.5) == 0.5


def test_rolls_when_size_reached() -> None:
    policy = RollPolicy(max_bytes=100, max_age=10.0)
    policy.add(60, now=1.0)
    assert not policy.is_due(1.0)
    policy.add(40, now=2.0)
    assert policy.is_due(2.0)
    assert policy.size == 100


def test_rolls_when_first_row_is_max_age_old() -> None:
    policy = RollPolicy(max_bytes=100, max_age=10.0)
    policy.add(1, now=5.0)
    policy.add(1, now=14.0)  # later rows do not restart the clock
    assert not policy.is_due(14.9)
    assert policy.wait_time(14.0, 0.5) == 0.5
    assert policy.wait_time(14.8, 0.5) == pytest.approx(0.2)
    assert policy.is_due(15.0)
    assert policy.wait_time(16.0, 0.5) == 0.0


def test_reset_starts_over() -> None:
    policy = RollPolicy(max_bytes=10, max_age=1.0)
    policy.add(20, now=0.0)
    policy.reset()
    assert policy.size == 0 and not policy.is_due(100.0)
    policy.add(1, now=100.0)
    assert not policy.is_due(100.5) and policy.is_due(101.0)


@pytest.mark.parametrize(("size", "age"), [(0, 1.0), (1, 0.0), (1, -1.0)])
def test_invalid_limits_are_refused(size: int, age: float) -> None:
    with pytest.raises(ValueError):
        RollPolicy(max_bytes=size, max_age=age)
