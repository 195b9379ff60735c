"""Table maintenance (`python -m iot_pipeline.lake maintain`): compact small files, expire old
snapshots and delete the data files no snapshot references any more.

Compaction rewrites, per day partition, the files smaller than half the target size when there
are at least LAKE_COMPACT_MIN_FILES of them: their rows, sorted by device and time, become files
of up to LAKE_TARGET_FILE_BYTES, in one `replace`-style Iceberg commit that carries the
archiver's Kafka offsets forward unchanged. A concurrent archiver commit makes it fail (the
table has no library retries) rather than record stale offsets; the next run tries again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from loguru import logger
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files
from pyiceberg.table import FileScanTask, Table

from iot_pipeline.config import Settings
from iot_pipeline.lake.offsets import PROPERTY_PREFIX
from iot_pipeline.lake.records import sorted_table

SMALL_FRACTION = 0.5


@dataclass(frozen=True)
class CompactionResult:
    partitions: int
    files_removed: int
    files_added: int


@dataclass(frozen=True)
class ExpiryResult:
    snapshots_expired: int
    files_deleted: int


def small_file_groups(
    files: Iterable[tuple[tuple[object, ...], int]], target_bytes: int, min_files: int
) -> dict[tuple[object, ...], list[int]]:
    """Partition -> indexes of its small files, for partitions worth compacting (pure).
    `files` is (partition key, file size) per data file."""
    groups: dict[tuple[object, ...], list[int]] = defaultdict(list)
    for index, (partition, size) in enumerate(files):
        if size < target_bytes * SMALL_FRACTION:
            groups[partition].append(index)
    return {p: idx for p, idx in groups.items() if len(idx) >= min_files}


def snapshots_to_expire(
    snapshots: Sequence[tuple[int, int]],
    current_id: int | None,
    now_ms: int,
    max_age_ms: int,
    retain_last: int,
) -> list[int]:
    """Ids of the snapshots older than `max_age_ms`, keeping the newest `retain_last` and the
    current one (pure). `snapshots` is (snapshot id, timestamp ms)."""
    newest_first = sorted(snapshots, key=lambda s: s[1], reverse=True)
    kept = {sid for sid, _ in newest_first[:retain_last]}
    if current_id is not None:
        kept.add(current_id)
    cutoff = now_ms - max_age_ms
    return sorted(sid for sid, ts in newest_first if ts < cutoff and sid not in kept)


def carried_properties(summary: Mapping[str, str]) -> dict[str, str]:
    """The archiver's offsets properties of a summary, to carry into a maintenance commit."""
    return {k: v for k, v in summary.items() if k.startswith(PROPERTY_PREFIX)}


def _partition_key(task: FileScanTask) -> tuple[object, ...]:
    partition = task.file.partition
    return tuple(partition[i] for i in range(len(partition)))


def compact(table: Table, target_bytes: int, min_files: int) -> CompactionResult:
    table.refresh()
    snapshot = table.current_snapshot()
    if snapshot is None:
        return CompactionResult(0, 0, 0)
    tasks = list(table.scan(snapshot_id=snapshot.snapshot_id).plan_files())
    groups = small_file_groups(
        ((_partition_key(t), t.file.file_size_in_bytes) for t in tasks), target_bytes, min_files
    )
    if not groups:
        return CompactionResult(0, 0, 0)
    carry = carried_properties(snapshot.summary.additional_properties if snapshot.summary else {})
    removed = added = 0
    schema = table.schema()
    with (
        table.transaction() as tx,
        tx.update_snapshot(snapshot_properties=carry).overwrite() as rewrite,
    ):
        for indexes in groups.values():
            chosen = [tasks[i] for i in indexes]
            rows = ArrowScan(table.metadata, table.io, schema, AlwaysTrue()).to_table(chosen)
            rows = sorted_table(rows.to_batches(), rows.schema)
            for task in chosen:
                rewrite.delete_data_file(task.file)
                removed += 1
            for data_file in _dataframe_to_data_files(tx.table_metadata, rows, table.io):
                rewrite.append_data_file(data_file)
                added += 1
    logger.info("compacted {} partitions: {} files -> {}", len(groups), removed, added)
    return CompactionResult(len(groups), removed, added)


def _data_files(table: Table, snapshot_ids: Iterable[int]) -> set[str]:
    paths: set[str] = set()
    for snapshot_id in snapshot_ids:
        snapshot = table.snapshot_by_id(snapshot_id)
        if snapshot is None:
            continue
        for manifest in snapshot.manifests(table.io):
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                paths.add(entry.data_file.file_path)
    return paths


def expire(table: Table, now_ms: int, max_age_ms: int, retain_last: int) -> ExpiryResult:
    table.refresh()
    snapshots = [(s.snapshot_id, s.timestamp_ms) for s in table.metadata.snapshots]
    current = table.current_snapshot()
    doomed = snapshots_to_expire(
        snapshots, current.snapshot_id if current else None, now_ms, max_age_ms, retain_last
    )
    if not doomed:
        return ExpiryResult(0, 0)
    candidates = _data_files(table, doomed)
    table.maintenance.expire_snapshots().by_ids(doomed).commit()
    table.refresh()
    still_used = _data_files(table, [s.snapshot_id for s in table.metadata.snapshots])
    unused = sorted(candidates - still_used)
    for path in unused:
        table.io.delete(path)
    logger.info("expired {} snapshots, deleted {} unused data files", len(doomed), len(unused))
    return ExpiryResult(len(doomed), len(unused))


def maintain(
    table: Table, settings: Settings, now_ms: int, *, compaction: bool = True, expiry: bool = True
) -> tuple[CompactionResult | None, ExpiryResult | None]:
    """One maintenance run with the settings' limits: compaction, then snapshot expiry."""
    compacted = (
        compact(table, settings.lake_target_file_bytes, settings.lake_compact_min_files)
        if compaction
        else None
    )
    expired = (
        expire(
            table,
            now_ms=now_ms,
            max_age_ms=int(settings.lake_snapshot_max_age_hours * 3600 * 1000),
            retain_last=settings.lake_snapshot_retain_last,
        )
        if expiry
        else None
    )
    return compacted, expired
