"""The writer against a real embedded catalog (pyiceberg SQL catalog on SQLite, local files)."""

import copy
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.exceptions import CommitFailedException

from iot_pipeline.config import Settings, load_settings
from iot_pipeline.lake.catalog import catalog_properties, open_catalog, open_table
from iot_pipeline.lake.records import to_batch
from iot_pipeline.lake.schema import contract_avro_schema
from iot_pipeline.lake.writer import LakeWriter
from tests.unit.lake.conftest import reading


@pytest.fixture
def writer(lake_settings: Settings) -> LakeWriter:
    table = open_table(open_catalog(lake_settings), lake_settings)
    return LakeWriter(table, "readings", "archiver")


def _batch(writer: LakeWriter, *indices: int, device: str = "dev-1") -> pa.RecordBatch:
    return to_batch([reading(i, device) for i in indices], writer.arrow_schema())


def test_embedded_catalog_lives_under_lake_dir(lake_settings: Settings) -> None:
    props = catalog_properties(lake_settings)
    lake_dir = lake_settings.lake_dir.resolve()
    assert props["type"] == "sql"
    assert props["uri"] == f"sqlite:///{lake_dir / 'catalog.db'}"
    assert props["warehouse"] == (lake_dir / "warehouse").as_uri()


def test_rest_catalog_and_s3_settings() -> None:
    settings = load_settings(
        lake_catalog_type="rest",
        lake_catalog_uri="http://catalog:8181",
        lake_warehouse="s3://lake/warehouse",
        lake_s3_endpoint="http://store:9000",
        lake_s3_access_key_id="id",
        lake_s3_secret_access_key="test-only-secret",
    )
    props = catalog_properties(settings)
    assert props["type"] == "rest" and props["uri"] == "http://catalog:8181"
    assert props["warehouse"] == "s3://lake/warehouse"
    assert props["s3.endpoint"] == "http://store:9000"
    assert props["s3.secret-access-key"] == "test-only-secret"
    with pytest.raises(ValueError, match="LAKE_CATALOG_URI"):
        catalog_properties(load_settings(lake_catalog_type="rest"))


def test_table_is_created_once_partitioned_and_sorted(lake_settings: Settings) -> None:
    catalog = open_catalog(lake_settings)
    table = open_table(catalog, lake_settings)
    again = open_table(catalog, lake_settings)
    assert again.metadata.table_uuid == table.metadata.table_uuid
    assert str(table.spec().fields[0].transform) == "day"
    assert [table.schema().find_column_name(f.source_id) for f in table.sort_order().fields] == [
        "device_id",
        "timestamp",
    ]
    assert table.properties["write.target-file-size-bytes"] == str(
        lake_settings.lake_target_file_bytes
    )


def test_new_table_has_no_offsets(writer: LakeWriter) -> None:
    assert writer.table_offsets() == {}


def test_commit_appends_rows_sorted_with_their_offsets(writer: LakeWriter) -> None:
    result = writer.commit(
        {0: [_batch(writer, 3, 0, device="b")], 1: [_batch(writer, 1, 2, device="a")]},
        ours={0: 2, 1: 12},
        believed={0: None, 1: None},
    )
    assert result.rows == 4 and result.stale == set()
    assert result.files == 2  # readings 0, 1 before midnight, 2, 3 after: two day partitions
    assert writer.table_offsets() == {0: 2, 1: 12}
    rows = writer.table.scan().to_arrow()
    assert rows.num_rows == 4
    for task in writer.table.scan().plan_files():  # each file sorted by device, then time
        data = pq.read_table(task.file.file_path.removeprefix("file://"))
        keys = list(zip(data["device_id"].to_pylist(), data["timestamp"].to_pylist(), strict=True))
        assert keys == sorted(keys) and len(keys) == 2


def test_later_commits_merge_offsets_of_other_partitions(writer: LakeWriter) -> None:
    writer.commit({0: [_batch(writer, 0)]}, ours={0: 1}, believed={0: None})
    writer.commit({1: [_batch(writer, 1)]}, ours={1: 7}, believed={1: None})
    assert writer.table_offsets() == {0: 1, 1: 7}
    writer.commit({0: [_batch(writer, 2)]}, ours={0: 2}, believed={0: 1})
    assert writer.table_offsets() == {0: 2, 1: 7}
    assert writer.table.scan().to_arrow().num_rows == 3


def test_a_partition_someone_else_committed_is_left_out(writer: LakeWriter) -> None:
    other = LakeWriter(writer.table, "readings", "archiver")
    other.commit({0: [_batch(writer, 0)]}, ours={0: 1}, believed={0: None})
    result = writer.commit(
        {0: [_batch(writer, 0)], 1: [_batch(writer, 5)]},
        ours={0: 1, 1: 1},
        believed={0: None, 1: None},
    )
    assert result.stale == {0} and result.rows == 1
    assert writer.table_offsets() == {0: 1, 1: 1}
    assert writer.table.scan().to_arrow().num_rows == 2  # reading 0 once


def test_nothing_to_commit_when_every_partition_is_stale(writer: LakeWriter) -> None:
    writer.commit({0: [_batch(writer, 0)]}, ours={0: 1}, believed={0: None})
    snapshots = len(writer.table.metadata.snapshots)
    result = writer.commit({0: [_batch(writer, 0)]}, ours={0: 1}, believed={0: None})
    assert result.rows == 0 and result.stale == {0}
    writer.table.refresh()
    assert len(writer.table.metadata.snapshots) == snapshots


def test_offsets_advance_even_when_no_row_is_kept(writer: LakeWriter) -> None:
    """E.g. every reading of the batch went to the dead-letter topic."""
    writer.commit({0: []}, ours={0: 40}, believed={0: None})
    assert writer.table_offsets() == {0: 40}
    assert writer.table.scan().to_arrow().num_rows == 0


def test_offsets_of_other_groups_are_separate(writer: LakeWriter) -> None:
    writer.commit({0: [_batch(writer, 0)]}, ours={0: 1}, believed={0: None})
    assert LakeWriter(writer.table, "readings", "another-group").table_offsets() == {}


def test_a_lost_race_is_retried_on_the_refreshed_table(
    writer: LakeWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_append = writer.table.append
    calls = []

    def flaky_append(*args: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise CommitFailedException("concurrent commit")
        real_append(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(writer.table, "append", flaky_append)
    result = writer.commit({0: [_batch(writer, 0)]}, ours={0: 1}, believed={0: None})
    assert len(calls) == 2 and result.rows == 1


def test_evolution_adds_optional_columns_without_rewriting_files(writer: LakeWriter) -> None:
    writer.commit({0: [_batch(writer, 0, 1)]}, ours={0: 2}, believed={0: None})
    files_before = {t.file.file_path for t in writer.table.scan().plan_files()}
    avro = copy.deepcopy(contract_avro_schema())
    avro["fields"].append({"name": "air_quality", "type": ["null", "double"], "default": None})
    old_batch = _batch(writer, 2)  # converted before the evolution
    assert writer.evolve(avro) == ["air_quality"]
    assert writer.evolve(avro) == []
    assert not writer.table.schema().find_field("air_quality").required
    new_batch = to_batch([reading(3, air_quality=7.5)], writer.arrow_schema())
    writer.commit({0: [old_batch, new_batch]}, ours={0: 4}, believed={0: 2})
    rows = writer.table.scan().to_arrow().sort_by("measurement_sequence")
    assert rows["air_quality"].to_pylist() == [None, None, None, 7.5]
    files_after = {t.file.file_path for t in writer.table.scan().plan_files()}
    assert files_before <= files_after  # the old files are still the table's, unrewritten


def test_table_survives_reopening(lake_settings: Settings, tmp_path: Path) -> None:
    table = open_table(open_catalog(lake_settings), lake_settings)
    LakeWriter(table, "t", "g").commit(
        {0: [to_batch([reading(0)], table.schema().as_arrow())]}, ours={0: 1}, believed={0: None}
    )
    reopened = open_table(open_catalog(lake_settings), lake_settings)
    assert LakeWriter(reopened, "t", "g").table_offsets() == {0: 1}
    assert (lake_settings.lake_dir / "catalog.db").exists()


def test_a_concurrent_commit_is_not_overwritten_with_stale_offsets(
    lake_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two archivers with their own table handles: B read the offsets, then A committed, then B
    appends. B's append must fail and start over, recording A's partition too."""
    a = LakeWriter(open_table(open_catalog(lake_settings), lake_settings), "t", "g")
    b = LakeWriter(open_table(open_catalog(lake_settings), lake_settings), "t", "g")
    real_append = b.table.append
    raced = []

    def append_after_a(*args: object, **kwargs: object) -> None:
        if not raced:
            raced.append(1)
            a.commit({1: [_batch(a, 1)]}, ours={1: 50}, believed={1: None})
        real_append(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(b.table, "append", append_after_a)
    b.commit({0: [_batch(b, 0)]}, ours={0: 9}, believed={0: None})
    assert b.table_offsets() == {0: 9, 1: 50}
    assert b.table.scan().to_arrow().num_rows == 2


def test_an_existing_table_gets_the_no_library_retry_property(lake_settings: Settings) -> None:
    table = open_table(open_catalog(lake_settings), lake_settings)
    with table.transaction() as tx:
        tx.remove_properties("commit.retry.num-retries")
    reopened = open_table(open_catalog(lake_settings), lake_settings)
    assert reopened.properties["commit.retry.num-retries"] == "0"
