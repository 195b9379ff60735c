"""observe_many() counts exactly as Histogram.observe() does, one amount at a time."""

from __future__ import annotations

import math
import random

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from iot_pipeline.sink.metrics import LATENCY_BUCKETS, STAGE_BUCKETS, observe_many


def exposition(buckets: tuple[float, ...], amounts: list[float], many: bool) -> bytes:
    registry = CollectorRegistry()
    histogram = Histogram("h", "h", registry=registry, buckets=buckets)
    if many:
        observe_many(histogram, amounts[: len(amounts) // 2])
        observe_many(histogram, amounts[len(amounts) // 2 :])
    else:
        for amount in amounts:
            histogram.observe(amount)
    return b"\n".join(
        line for line in generate_latest(registry).splitlines() if b"_created" not in line
    )


@pytest.mark.parametrize("buckets", [STAGE_BUCKETS, LATENCY_BUCKETS])
def test_same_buckets_count_and_sum_as_observe(buckets: tuple[float, ...]) -> None:
    rng = random.Random(5)
    # Exact bucket bounds, values between and beyond them; multiples of 1/64 keep sums exact.
    amounts = [float(b) for b in buckets] + [0.0, 1e9]
    amounts += [rng.randrange(0, 64 * 400) / 64 for _ in range(3000)]
    assert exposition(buckets, amounts, many=True) == exposition(buckets, amounts, many=False)


def test_nan_adds_to_the_sum_and_to_no_bucket_as_observe_does() -> None:
    amounts = [0.5, math.nan]
    assert exposition(LATENCY_BUCKETS, amounts, True) == exposition(LATENCY_BUCKETS, amounts, False)


def test_nothing_to_observe_changes_nothing() -> None:
    assert exposition(LATENCY_BUCKETS, [], True) == exposition(LATENCY_BUCKETS, [], False)


def test_a_labelled_histogram_needs_its_labels() -> None:
    histogram = Histogram("h", "h", ["kind"], registry=CollectorRegistry())
    with pytest.raises(ValueError):
        observe_many(histogram, [1.0])
