"""LAKE_WAREHOUSE=s3://... with LAKE_S3_ENDPOINT and keys: the archiver's writer and the query
path against an S3 API on loopback (moto's server, in-process). This proves the settings reach
pyiceberg's S3 file IO correctly (endpoint, path-style addressing, credentials, region); it is
not a test of any particular object store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from iot_pipeline.config import Settings, load_settings
from iot_pipeline.lake.catalog import open_catalog, open_table
from iot_pipeline.lake.maintenance import compact
from iot_pipeline.lake.query import run_query
from iot_pipeline.lake.records import to_batch
from iot_pipeline.lake.writer import LakeWriter
from tests.unit.lake.conftest import reading

KEY, SECRET = "test-only-key", "test-only-secret"


@pytest.fixture
def s3_lake(tmp_path: Path) -> Iterator[tuple[Settings, object]]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket="lake")
    settings = load_settings(
        lake_dir=tmp_path / "lake",
        lake_warehouse="s3://lake/warehouse",
        lake_s3_endpoint=endpoint,
        lake_s3_access_key_id=KEY,
        lake_s3_secret_access_key=SECRET,
    )
    yield settings, s3
    server.stop()


def test_the_table_lives_in_the_bucket(s3_lake: tuple[Settings, object]) -> None:
    settings, s3 = s3_lake
    table = open_table(open_catalog(settings), settings)
    writer = LakeWriter(table, "t", "g")
    for i in range(4):
        batch = to_batch([reading(2 + i), reading(10 + i)], writer.arrow_schema())
        writer.commit({0: [batch]}, ours={0: i + 1}, believed={0: i or None})
    assert table.location() == "s3://lake/warehouse/iot/sensor_readings"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="lake")["Contents"]]  # type: ignore[attr-defined]
    assert any(k.endswith(".parquet") and "timestamp_day=2026-03-02" in k for k in keys)
    assert any(k.endswith(".metadata.json") for k in keys)
    assert not (settings.lake_dir / "warehouse").exists()
    assert compact(table, target_bytes=10**8, min_files=4).files_removed == 4
    result = run_query(table, "SELECT count(*) AS n FROM iot.sensor_readings").to_pylist()
    assert result == [{"n": 8}]
    assert LakeWriter(open_table(open_catalog(settings), settings), "t", "g").table_offsets() == {
        0: 4
    }


def test_a_missing_bucket_is_an_error_not_a_silent_local_write(
    s3_lake: tuple[Settings, object],
) -> None:
    settings, _ = s3_lake
    wrong = settings.model_copy(update={"lake_warehouse": "s3://no-such-bucket/warehouse"})
    with pytest.raises(OSError, match="bucket does not exist"):
        open_table(open_catalog(wrong), wrong)
    assert not (settings.lake_dir / "warehouse").exists()
