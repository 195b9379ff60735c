"""The plain-number metrics expose exactly what prometheus_client's Counter and Histogram
expose for the same updates (apart from the ``_created`` samples, which they leave out)."""

from __future__ import annotations

import math
import random

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from iot_pipeline.adapter.ledger import LATENCY_BUCKETS
from iot_pipeline.adapter.plain_metrics import PlainCounter, PlainHistogram


def _exposition(registry: CollectorRegistry) -> list[str]:
    lines = generate_latest(registry).decode().splitlines()
    return [line for line in lines if "_created" not in line]


def test_counter_matches_prometheus_client() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    plain = PlainCounter("x_total", "Things.", registry=ours)
    reference = Counter("x_total", "Things.", registry=theirs)
    for amount in (1, 1, 9, 0.5):
        plain.inc(amount)
        reference.inc(amount)
    plain.inc()
    reference.inc()
    assert _exposition(ours) == _exposition(theirs)


def test_labelled_counter_matches_prometheus_client() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    plain = PlainCounter("y_total", "By source.", ["source"], registry=ours)
    reference = Counter("y_total", "By source.", ["source"], registry=theirs)
    for source in ("a", "b", "a", "c", "a"):
        plain.labels(source).inc()
        reference.labels(source).inc()
    plain.labels("unused")
    reference.labels("unused")
    assert _exposition(ours) == _exposition(theirs)
    with pytest.raises(ValueError):
        plain.labels("a", "b")


@pytest.mark.parametrize(
    "buckets", [LATENCY_BUCKETS, (0.00005, 0.0001, 0.00025, 0.001, 0.05), (1.0, float("inf"))]
)
def test_histogram_matches_prometheus_client(buckets: tuple[float, ...]) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    plain = PlainHistogram("z_seconds", "Durations.", buckets, registry=ours)
    reference = Histogram("z_seconds", "Durations.", buckets=buckets, registry=theirs)
    rng = random.Random(7)
    # Exactly on the bounds too: ``le`` is inclusive.
    amounts = [rng.expovariate(1 / rng.choice((1e-4, 1e-2, 1.0, 100.0))) for _ in range(3000)]
    amounts += [b for b in buckets if not math.isinf(b)] + [0.0, 1e9]
    for amount in amounts:
        plain.observe(amount)
        reference.observe(amount)
    assert _exposition(ours) == _exposition(theirs)


def test_empty_histogram_matches_prometheus_client() -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    PlainHistogram("e_seconds", "Nothing yet.", (0.1, 1.0), registry=ours)
    Histogram("e_seconds", "Nothing yet.", buckets=(0.1, 1.0), registry=theirs)
    assert _exposition(ours) == _exposition(theirs)
