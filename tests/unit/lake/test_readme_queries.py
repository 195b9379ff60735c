"""Every SQL query of the README's lake section runs through `python -m iot_pipeline.lake query`'s
code path on a table with known contents, and returns the expected rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bench.storage import documented_queries, markdown_section
from iot_pipeline.config import Settings
from iot_pipeline.lake.__main__ import main
from iot_pipeline.lake.catalog import open_catalog, open_table
from iot_pipeline.lake.query import render, run_query
from iot_pipeline.lake.records import to_batch
from iot_pipeline.lake.writer import LakeWriter
from tests.unit.lake.conftest import reading

README = Path(__file__).resolve().parents[3] / "README.md"
TAG = "C6:8D:C6:26:39:A6"
OTHER = "D1:11:22:33:44:55"
NOW = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
DAYS_AGO = (400, 10, 1)  # 400 days: outside "a year"


def queries() -> dict[str, str]:
    section = markdown_section(README.read_text(), "Long-term archive (Apache Iceberg)")
    return dict(documented_queries(section))


def _readings() -> list[dict]:
    rows = []
    for days in DAYS_AGO:
        for n, tag in enumerate((TAG, OTHER)):
            for kind, base in (("temperature", 20.0), ("humidity", 40.0)):
                for k in range(2):  # two readings a day: values base+days and base+days+2
                    at = NOW - timedelta(days=days) + timedelta(minutes=k + 10 * n)
                    rows.append(
                        reading(
                            0,
                            f"{tag.lower()}_{kind}",
                            device_type=kind,
                            timestamp=at,
                            value=base + days + 2 * k,
                            tag_mac=tag,
                            gateway_id="gw-1",
                            rssi=-70,
                        )
                    )
        rows.append(reading(0, "sim-1", timestamp=NOW - timedelta(days=days), value=1.0))
    return rows


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from iot_pipeline.config import load_settings

    settings = load_settings(
        lake_dir=tmp_path_factory.mktemp("lake"), lake_table="iot.sensor_readings"
    )
    table = open_table(open_catalog(settings), settings)
    writer = LakeWriter(table, settings.kafka_topic_name, settings.lake_consumer_group_id)
    rows = _readings()
    half = len(rows) // 2
    writer.commit({0: [to_batch(rows[:half], writer.arrow_schema())]}, {0: half}, {0: None})
    writer.commit({0: [to_batch(rows[half:], writer.arrow_schema())]}, {0: len(rows)}, {0: half})
    return table, settings


def test_the_readme_has_the_four_queries() -> None:
    assert list(queries()) == [
        "A year of daily averages per tag",
        "One tag's history",
        "Data volume per day: readings and devices",
        "Data volume per day: files and bytes stored",
    ]


def test_a_year_of_daily_averages_per_tag(table) -> None:  # type: ignore[no-untyped-def]
    result = run_query(table[0], queries()["A year of daily averages per tag"]).to_pylist()
    assert len(result) == 2 * 2 * 2  # tags x kinds x days within the year
    first = result[0]
    assert (first["tag_mac"], first["device_type"]) == (TAG, "humidity")
    assert first["day"] == (NOW - timedelta(days=10)).date()
    assert first["avg_value"] == pytest.approx(40.0 + 10 + 1)
    assert (first["min_value"], first["max_value"], first["readings"]) == (50.0, 52.0, 2)
    assert {r["tag_mac"] for r in result} == {TAG, OTHER}


def test_one_tags_history(table) -> None:  # type: ignore[no-untyped-def]
    sql = queries()["One tag's history"]
    result = run_query(table[0], sql).to_pylist()
    assert len(result) == len(DAYS_AGO) * 2 * 2
    stamps = [r["timestamp"] for r in result]
    assert stamps == sorted(stamps)
    assert {r["gateway_id"] for r in result} == {"gw-1"}
    pruned = run_query(table[0], sql, where=f"tag_mac = '{TAG}'").to_pylist()
    assert pruned == result


def test_data_volume_per_day(table) -> None:  # type: ignore[no-untyped-def]
    result = run_query(table[0], queries()["Data volume per day: readings and devices"])
    rows = result.to_pylist()
    assert [r["day"] for r in rows] == sorted((NOW - timedelta(days=d)).date() for d in DAYS_AGO)
    assert {r["readings"] for r in rows} == {2 * 2 * 2 + 1}
    assert {r["devices"] for r in rows} == {2 * 2 + 1}


def test_files_and_bytes_per_day(table) -> None:  # type: ignore[no-untyped-def]
    rows = run_query(table[0], queries()["Data volume per day: files and bytes stored"]).to_pylist()
    assert len(rows) == len(DAYS_AGO)
    assert all(isinstance(r["day"], date) for r in rows)
    assert sum(r["record_count"] for r in rows) == len(_readings())
    assert all(r["file_count"] >= 1 and r["bytes"] > 0 for r in rows)


def test_the_command_line_prints_the_result(table, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings: Settings = table[1]
    monkeypatch.setenv("LAKE_DIR", str(settings.lake_dir))
    monkeypatch.setenv("LAKE_TABLE", settings.lake_table)
    sql = "SELECT count(*) AS n FROM iot.sensor_readings"
    assert main(["query", sql, "--format", "csv"]) == 0
    assert capsys.readouterr().out == f"n\n{len(_readings())}\n"
    assert main(["query", sql]) == 0
    assert "(1 rows)" in capsys.readouterr().out
    assert main(["describe"]) == 0
    assert "offsets    {0: " in capsys.readouterr().out


def test_render_formats() -> None:
    import pyarrow as pa

    result = pa.table({"a": [1, None], "b": ["x", "y"]})
    assert render(result, "csv") == "a,b\n1,x\n,y\n"
    assert render(result, "json") == '{"a": 1, "b": "x"}\n{"a": null, "b": "y"}\n'
    assert render(result).splitlines() == ["a  b", "-  -", "1  x", "   y", "(2 rows)"]
