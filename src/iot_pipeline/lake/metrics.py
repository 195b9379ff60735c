"""The archiver's Prometheus metrics, registered on the registry the service's main() builds."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

COMMIT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class ArchiverMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._declare_flow(registry)
        self._declare_table(registry)

    def _declare_flow(self, registry: CollectorRegistry) -> None:
        """Records on their way: consumed, rejected, skipped, buffered, and the loop's pauses."""
        self.received = Counter(
            "iot_lake_messages_received_total", "Records consumed from Kafka.", registry=registry
        )
        self.rejected = Counter(
            "iot_lake_messages_rejected_total",
            "Records that cannot be archived and went to the dead-letter topic, by reason.",
            ["reason"],
            registry=registry,
        )
        self.lag = Gauge(
            "iot_lake_snapshot_lag_messages",
            "Readings in Kafka (the archiver's partitions) not yet in the table's latest snapshot.",
            registry=registry,
        )
        self.buffered_rows = Gauge(
            "iot_lake_buffered_rows",
            "Rows converted and waiting for the next commit.",
            registry=registry,
        )
        self.buffered_bytes = Gauge(
            "iot_lake_buffered_bytes", "Arrow bytes waiting for the next commit.", registry=registry
        )
        self.skipped = Counter(
            "iot_lake_duplicates_skipped_total",
            "Records skipped because the table already holds their offset (replays).",
            registry=registry,
        )
        self.stale = Counter(
            "iot_lake_stale_partitions_total",
            "Partitions left out of a commit because another archiver committed them meanwhile.",
            registry=registry,
        )
        self.paused = Gauge(
            "iot_lake_paused",
            "1 while consumption is paused because the catalog or the store is unreachable.",
            registry=registry,
        )
        self.write_failures = Counter(
            "iot_lake_write_failures_total",
            "Failed attempts to commit (retried with backoff).",
            registry=registry,
        )

    def _declare_table(self, registry: CollectorRegistry) -> None:
        """The table's side: commits, files, rows archived, schema evolutions, maintenance."""
        self.rows_archived = Counter(
            "iot_lake_rows_archived_total",
            "Rows committed to the Iceberg table.",
            registry=registry,
        )
        self.files_written = Counter(
            "iot_lake_files_written_total",
            "Data files added to the Iceberg table by the archiver's commits.",
            registry=registry,
        )
        self.commits = Counter(
            "iot_lake_commits_total",
            "Iceberg commits of the archiver, by outcome (ok, failed).",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("ok", "failed"):  # exposed at 0 from the start, for rules and panels
            self.commits.labels(outcome)
        self.commit_duration = Histogram(
            "iot_lake_commit_duration_seconds",
            "Time to write the data files of one commit and commit the snapshot.",
            buckets=COMMIT_BUCKETS,
            registry=registry,
        )
        self.last_commit = Gauge(
            "iot_lake_last_commit_timestamp_seconds",
            "Unix time of the archiver's last successful commit (0: none since start).",
            registry=registry,
        )
        self.evolutions = Counter(
            "iot_lake_schema_evolutions_total",
            "Columns added to the table from a newer Avro writer schema.",
            registry=registry,
        )
        self.maintenance_runs = Counter(
            "iot_lake_maintenance_runs_total",
            "The archiver's maintenance runs (compaction, snapshot expiry), by outcome.",
            ["outcome"],
            registry=registry,
        )

    # --- the consumer loop's events (iot_pipeline.stream.LoopObserver) --------------------------
    def on_received(self) -> None:
        self.received.inc()

    def on_rejected(self, reason: str, detail: str) -> None:
        self.rejected.labels(reason).inc()

    def on_write_failed(self) -> None:
        self.write_failures.inc()

    def on_paused(self, paused: bool) -> None:
        self.paused.set(1 if paused else 0)

    def on_committed(self) -> None:
        return None

    def on_batch_done(self, seconds: float) -> None:
        return None
