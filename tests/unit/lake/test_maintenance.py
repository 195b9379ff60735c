"""Compaction and snapshot expiry on a real embedded table."""

import pyarrow.parquet as pq
import pytest

from iot_pipeline.config import Settings
from iot_pipeline.lake.catalog import open_catalog, open_table
from iot_pipeline.lake.maintenance import (
    carried_properties,
    compact,
    expire,
    small_file_groups,
    snapshots_to_expire,
)
from iot_pipeline.lake.records import to_batch
from iot_pipeline.lake.writer import LakeWriter
from tests.unit.lake.conftest import reading


def test_small_file_groups_pick_partitions_with_enough_small_files() -> None:
    files = [(("d1",), 10), (("d1",), 20), (("d1",), 90), (("d2",), 5), (("d1",), 1)]
    assert small_file_groups(files, target_bytes=100, min_files=3) == {("d1",): [0, 1, 4]}
    assert small_file_groups(files, target_bytes=100, min_files=4) == {}


def test_snapshots_to_expire_keeps_the_newest_and_the_current() -> None:
    snaps = [(1, 100), (2, 200), (3, 300), (4, 400)]
    assert snapshots_to_expire(snaps, 4, now_ms=1000, max_age_ms=750, retain_last=1) == [1, 2]
    assert snapshots_to_expire(snaps, 4, now_ms=1000, max_age_ms=750, retain_last=3) == [1]
    assert snapshots_to_expire(snaps, 1, now_ms=1000, max_age_ms=0, retain_last=1) == [2, 3]
    assert snapshots_to_expire([], None, now_ms=1000, max_age_ms=0, retain_last=1) == []


def test_carried_properties_are_only_the_offsets() -> None:
    summary = {"added-records": "5", "iot-pipeline.kafka-offsets.t.g": '{"0":1}'}
    assert carried_properties(summary) == {"iot-pipeline.kafka-offsets.t.g": '{"0":1}'}


@pytest.fixture
def writer(lake_settings: Settings) -> LakeWriter:
    return LakeWriter(open_table(open_catalog(lake_settings), lake_settings), "t", "g")


def _fill(writer: LakeWriter, commits: int) -> None:
    """`commits` appends of 2 readings of one day each (after midnight), alternating devices."""
    for i in range(commits):
        device = "b" if i % 2 else "a"
        batch = to_batch(
            [reading(2 + 2 * i, device), reading(3 + 2 * i, device)], writer.arrow_schema()
        )
        writer.commit({0: [batch]}, ours={0: 2 * i + 2}, believed={0: 2 * i or None})


def test_compaction_merges_small_files_keeps_rows_order_and_offsets(writer: LakeWriter) -> None:
    _fill(writer, 5)
    before = writer.table.scan().to_arrow().sort_by("measurement_sequence")
    assert len(list(writer.table.scan().plan_files())) == 5
    result = compact(writer.table, target_bytes=10**8, min_files=4)
    assert (result.partitions, result.files_removed, result.files_added) == (1, 5, 1)
    (task,) = writer.table.scan().plan_files()
    data = pq.read_table(task.file.file_path.removeprefix("file://"))
    keys = list(zip(data["device_id"].to_pylist(), data["timestamp"].to_pylist(), strict=True))
    assert keys == sorted(keys)
    after = writer.table.scan().to_arrow().sort_by("measurement_sequence")
    assert after.equals(before)
    assert writer.table_offsets() == {0: 10}
    assert writer.table.current_snapshot().summary.operation.value == "overwrite"


def test_compaction_leaves_partitions_with_few_small_files(writer: LakeWriter) -> None:
    _fill(writer, 2)
    assert compact(writer.table, target_bytes=10**8, min_files=4).partitions == 0
    assert compact(writer.table, target_bytes=1, min_files=2).partitions == 0  # none is small


def test_expiry_drops_old_snapshots_and_unreferenced_files(writer: LakeWriter) -> None:
    _fill(writer, 4)
    compact(writer.table, target_bytes=10**8, min_files=4)
    rows = writer.table.scan().to_arrow().num_rows
    snapshots = len(writer.table.metadata.snapshots)
    now = max(s.timestamp_ms for s in writer.table.metadata.snapshots) + 10_000
    outcome = expire(writer.table, now_ms=now, max_age_ms=1_000, retain_last=1)
    assert outcome.snapshots_expired == snapshots - 1
    assert outcome.files_deleted == 4  # the compacted small files
    assert writer.table.scan().to_arrow().num_rows == rows
    assert writer.table_offsets() == {0: 8}
    assert expire(writer.table, now_ms=now, max_age_ms=1_000, retain_last=1).snapshots_expired == 0


def test_the_maintain_command_compacts_and_expires(
    writer: LakeWriter, lake_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    from iot_pipeline.lake.__main__ import main

    _fill(writer, 4)
    monkeypatch.setenv("LAKE_DIR", str(lake_settings.lake_dir))
    monkeypatch.setenv("LAKE_TABLE", lake_settings.lake_table)
    monkeypatch.setenv("LAKE_SNAPSHOT_RETAIN_LAST", "1")
    monkeypatch.setenv("LAKE_SNAPSHOT_MAX_AGE_HOURS", "0.0000001")
    assert main(["maintain"]) == 0
    out = capsys.readouterr().out
    assert "compaction: 1 partitions, 4 files -> 1" in out
    assert "expiry: 4 snapshots expired, 4 unused data files deleted" in out
    writer.table.refresh()
    assert len(writer.table.metadata.snapshots) == 1
    assert writer.table.scan().to_arrow().num_rows == 8


def test_a_compaction_racing_an_archiver_commit_fails_and_keeps_the_new_offsets(
    writer: LakeWriter, lake_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyiceberg.exceptions import CommitFailedException

    import iot_pipeline.lake.maintenance as maintenance

    _fill(writer, 4)
    archiver = LakeWriter(open_table(open_catalog(lake_settings), lake_settings), "t", "g")
    real_scan = maintenance.ArrowScan

    class ScanDuringACommit(real_scan):  # type: ignore[misc, valid-type]
        def to_table(self, tasks):  # type: ignore[no-untyped-def]
            batch = to_batch([reading(100), reading(101)], archiver.arrow_schema())
            archiver.commit({0: [batch]}, ours={0: 99}, believed={0: 8})
            return super().to_table(tasks)

    monkeypatch.setattr(maintenance, "ArrowScan", ScanDuringACommit)
    with pytest.raises(CommitFailedException):
        compact(writer.table, target_bytes=10**8, min_files=4)
    assert writer.table_offsets() == {0: 99}
    assert writer.table.scan().to_arrow().num_rows == 10
