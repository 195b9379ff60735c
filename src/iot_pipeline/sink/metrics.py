"""The sink's Prometheus metrics, registered on the registry the service's main() builds."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

BATCH_SIZE_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# 1 ms to ~60 s in steps of 25 %, like the adapter's receive -> Kafka-confirmed histogram: fine
# enough to read a p99 of tens of milliseconds.
STAGE_BUCKETS = tuple(round(0.001 * 1.25**i, 6) for i in range(50))
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


def observe_many(histogram: Histogram, amounts: Iterable[float]) -> None:
    """``histogram.observe(a)`` for each amount, counted first and added once per bucket.

    Histogram.observe() scans the buckets one by one and takes a lock per bucket and sum update:
    two per-row latencies over 50 buckets cost the sink microseconds a row. This uses
    prometheus_client's internals (``_upper_bounds``, ``_buckets``, ``_sum``; the version is
    pinned); a unit test compares its exposition with observe()'s."""
    histogram._raise_if_not_observable()  # type: ignore[no-untyped-call]
    bounds = histogram._upper_bounds
    counts = [0] * len(bounds)
    total = 0.0
    for amount in amounts:
        total += amount
        if amount == amount:  # observe() puts NaN in no bucket
            counts[bisect_left(bounds, amount)] += 1
    histogram._sum.inc(total)
    for bucket, count in zip(histogram._buckets, counts, strict=True):
        if count:
            bucket.inc(count)


class SinkMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._declare_storage(registry)
        self._declare_loop(registry)

    def _declare_storage(self, registry: CollectorRegistry) -> None:
        """Counted by the sink's step (sink/step.py) and its maintenance thread."""
        self.processed = Counter(
            "iot_messages_processed_total",
            "Records safely handled: stored (or already stored) in TimescaleDB.",
            registry=registry,
        )
        self.batch_size = Histogram(
            "iot_sink_batch_size",
            "Rows per written batch.",
            buckets=BATCH_SIZE_BUCKETS,
            registry=registry,
        )
        self.insert_latency = Histogram(
            "iot_sink_insert_duration_seconds",
            "Duration of the database transaction of one batch.",
            buckets=SECONDS_BUCKETS,
            registry=registry,
        )
        self.sensor_to_commit = Histogram(
            "iot_sink_sensor_to_commit_seconds",
            "From a reading's sensor timestamp to its database commit.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.kafka_to_commit = Histogram(
            "iot_sink_kafka_to_commit_seconds",
            "From a record's Kafka timestamp (when the adapter produced it) to its database "
            "commit: the sink's stage of the pipeline's latency.",
            buckets=STAGE_BUCKETS,
            registry=registry,
        )
        self.rows_inserted = Counter(
            "iot_sink_rows_inserted_total", "New rows written.", registry=registry
        )
        self.duplicates = Counter(
            "iot_sink_duplicate_rows_total",
            "Rows skipped because (device_id, timestamp) was already stored (replays).",
            registry=registry,
        )
        self.maintenance_runs = Counter(
            "iot_sink_maintenance_runs_total",
            "Maintenance runs (aggregate refresh, archiving, retention), by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.edition = Info(
            "iot_timescaledb_edition",
            "TimescaleDB edition and the aggregate/retention path the schema uses.",
            registry=registry,
        )

    def _declare_loop(self, registry: CollectorRegistry) -> None:
        """Counted by the methods below, which the consumer loop calls."""
        self.received = Counter(
            "iot_messages_received_total", "Records consumed from Kafka.", registry=registry
        )
        self.failed = Counter(
            "iot_messages_failed_total",
            "Records that could not be stored and went to the dead-letter topic.",
            ["reason"],
            registry=registry,
        )
        self.processing = Histogram(
            "iot_processing_duration_seconds",
            "Time to write one batch and commit its offsets.",
            buckets=SECONDS_BUCKETS,
            registry=registry,
        )
        self.db_errors = Counter(
            "iot_sink_database_errors_total",
            "Failed database attempts, by kind (transient: retried; data: row dead-lettered).",
            ["kind"],
            registry=registry,
        )
        self.paused = Gauge(
            "iot_sink_paused",
            "1 while consumption is paused because the database is unreachable.",
            registry=registry,
        )
        self.commits = Counter(
            "iot_sink_offset_commits_total",
            "Kafka offset commits after a batch.",
            registry=registry,
        )

    # --- the consumer loop's events (iot_pipeline.stream.LoopObserver) --------------------------
    def on_received(self) -> None:
        self.received.inc()

    def on_rejected(self, reason: str, detail: str) -> None:
        self.failed.labels(reason).inc()

    def on_write_failed(self) -> None:
        self.db_errors.labels("transient").inc()

    def on_paused(self, paused: bool) -> None:
        self.paused.set(1 if paused else 0)

    def on_committed(self) -> None:
        self.commits.inc()

    def on_batch_done(self, seconds: float) -> None:
        self.processing.observe(seconds)
