import pytest

from iot_pipeline.retry import Backoff


def test_backoff_doubles_up_to_the_cap() -> None:
    backoff = Backoff(initial=0.5, maximum=4.0)
    assert [backoff.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    with pytest.raises(ValueError):
        backoff.delay(0)
