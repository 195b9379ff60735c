"""Counters and histograms the adapter updates for every message, kept in plain Python numbers
and turned into Prometheus samples only when scraped.

prometheus_client's Counter.inc() and Histogram.observe() take a lock per value and the
histogram walks its buckets one by one; with five of them per message they were about a tenth of
the adapter's hot path. Here an update is an attribute add (a histogram: one bisect), and
collect() builds the same families (names, help, labels, cumulative ``le`` buckets) a scrape of
the prometheus_client metrics would show. The adapter updates them from its one loop thread; a
scrape from the exporter's thread reads them as they are (a histogram's sum may be one
observation ahead of its buckets, never inconsistent with its own count).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Final

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

_INF: Final = float("inf")
# How prometheus_client writes a bucket bound in ``le`` (the library's function is untyped).
_le: Final[Callable[[float], str]] = floatToGoString


class CounterChild:
    """One labelled series of a PlainCounter (or the counter itself when it has no labels)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class PlainCounter(CounterChild, Collector):
    """A counter like prometheus_client's Counter (``labels(...)`` for labelled ones)."""

    __slots__ = ("_children", "_documentation", "_labelnames", "_name")

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        registry: CollectorRegistry | None = None,
    ) -> None:
        super().__init__()
        self._name = name
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        self._children: dict[tuple[str, ...], CounterChild] = {}
        if registry is not None:
            registry.register(self)

    def labels(self, *values: str) -> CounterChild:
        """The series of these label values (created on first use, like prometheus_client's)."""
        if len(values) != len(self._labelnames):
            raise ValueError(f"{self._name} takes labels {self._labelnames}, got {values}")
        return self._children.setdefault(values, CounterChild())

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(self._name, self._documentation, labels=self._labelnames)
        if self._labelnames:
            for values, child in list(self._children.items()):
                family.add_metric(list(values), child.value)
        else:
            family.add_metric([], self.value)
        yield family


class PlainHistogram(Collector):
    """A histogram like prometheus_client's Histogram (no labels, no exemplars)."""

    __slots__ = ("_bounds", "_counts", "_documentation", "_name", "_sum")

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        registry: CollectorRegistry | None = None,
    ) -> None:
        bounds = sorted(float(b) for b in buckets)
        if not bounds or bounds[-1] != _INF:
            bounds.append(_INF)
        self._name = name
        self._documentation = documentation
        self._bounds = tuple(bounds)
        self._counts = [0] * len(bounds)
        self._sum = 0.0
        if registry is not None:
            registry.register(self)

    def observe(self, amount: float) -> None:
        # The first bucket whose upper bound is >= amount: Prometheus's ``le``.
        self._counts[bisect_left(self._bounds, amount)] += 1
        self._sum += amount

    def collect(self) -> Iterator[Metric]:
        counts = list(self._counts)
        buckets = []
        cumulative = 0
        for bound, count in zip(self._bounds, counts, strict=True):
            cumulative += count
            buckets.append((_le(bound), float(cumulative)))
        yield HistogramMetricFamily(
            self._name, self._documentation, buckets=buckets, sum_value=self._sum
        )
