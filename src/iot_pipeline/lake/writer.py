"""Appends to the readings table, each with the Kafka offsets that follow its rows.

`LakeWriter.commit` is the one place rows enter the table: it re-reads the table's offsets,
leaves out partitions another archiver committed meanwhile (fencing, see `offsets`), sorts the
rows by device and time, and appends them in one Iceberg snapshot whose summary records the new
offsets. A commit that loses a race with another writer (CommitFailedException) is retried on
the refreshed table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from loguru import logger
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

from iot_pipeline.lake import offsets as kafka_offsets
from iot_pipeline.lake.records import conform, sorted_table
from iot_pipeline.lake.schema import evolution_schema, new_columns

COMMIT_ATTEMPTS = 5


@dataclass(frozen=True)
class CommitResult:
    rows: int
    files: int
    offsets: dict[int, int]  # what the table records now (all partitions)
    stale: set[int] = field(default_factory=set)  # partitions left out (someone else's)
    seconds: float = 0.0


def snapshot_summaries(table: Table) -> Iterator[Mapping[str, str]]:
    """Summaries of the current snapshot and its ancestors, newest first."""
    snapshot: Snapshot | None = table.current_snapshot()
    while snapshot is not None:
        if snapshot.summary is not None:
            yield snapshot.summary.additional_properties
        if snapshot.parent_snapshot_id is None:
            return
        snapshot = table.snapshot_by_id(snapshot.parent_snapshot_id)


class LakeWriter:
    def __init__(
        self,
        table: Table,
        topic: str,
        group: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.table = table
        self.topic = topic
        self.key = kafka_offsets.property_key(topic, group)
        self._clock = clock

    def arrow_schema(self) -> pa.Schema:
        return self.table.schema().as_arrow()

    def table_offsets(self, refresh: bool = True) -> dict[int, int]:
        """The Kafka positions the table holds (partition -> next offset)."""
        if refresh:
            self.table.refresh()
        return kafka_offsets.latest_offsets(snapshot_summaries(self.table), self.key)

    def evolve(self, avro_schema: dict[str, Any]) -> list[str]:
        """Add the columns a (newer) Avro writer schema has and the table lacks, as optional
        columns: a metadata-only change, no data file is rewritten. Returns their names."""
        for attempt in range(COMMIT_ATTEMPTS):
            self.table.refresh()
            added = new_columns(self.table.schema(), avro_schema)
            if not added:
                return []
            try:
                target = evolution_schema(self.table.schema(), avro_schema)
                self.table.update_schema().union_by_name(target).commit()
                logger.info("table {} gained columns {}", self.table.name(), added)
                return added
            except CommitFailedException:
                logger.warning("schema update lost a race (attempt {}); retrying", attempt + 1)
        raise CommitFailedException(f"schema update failed {COMMIT_ATTEMPTS} times")

    def commit(
        self,
        batches: Mapping[int, Sequence[pa.RecordBatch]],
        ours: Mapping[int, int],
        believed: Mapping[int, int | None],
    ) -> CommitResult:
        """Append the rows of `batches` (partition -> record batches) with the offsets `ours`
        (partition -> next offset), if the table still holds `believed` for those partitions."""
        started = self._clock()
        for attempt in range(COMMIT_ATTEMPTS):
            table_offsets = self.table_offsets()
            stale = kafka_offsets.stale_partitions(table_offsets, believed, ours)
            keep = {p: o for p, o in ours.items() if p not in stale}
            if not keep:
                return CommitResult(0, 0, table_offsets, stale, self._clock() - started)
            schema = self.arrow_schema()
            rows = sorted_table(
                [conform(b, schema) for p in keep for b in batches.get(p, ())],
                schema,
            )
            recorded = kafka_offsets.merged(table_offsets, keep)
            try:
                self.table.append(
                    rows, snapshot_properties={self.key: kafka_offsets.encode(recorded)}
                )
            except CommitFailedException:
                logger.warning("append lost a race (attempt {}); retrying", attempt + 1)
                continue
            summary = self.table.current_snapshot().summary  # type: ignore[union-attr]
            files = int(summary.additional_properties.get("added-data-files", 0)) if summary else 0
            return CommitResult(rows.num_rows, files, recorded, stale, self._clock() - started)
        raise CommitFailedException(f"append failed {COMMIT_ATTEMPTS} times")
