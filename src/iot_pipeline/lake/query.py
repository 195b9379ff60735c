"""SQL over the Iceberg table: a pyiceberg scan into Arrow, queried by DuckDB in-process.

DuckDB's own `iceberg` extension is downloaded at run time, which these machines cannot do, so
the scan is pyiceberg's (partition pruning and column stats from the table's metadata; an optional
Iceberg filter prunes before DuckDB sees a row) and DuckDB only runs SQL over the Arrow result.

Names the SQL can use (the table's namespace and name, e.g. `iot.sensor_readings`):
- `<ns>.<name>`: the readings;
- `<ns>.<name>_partitions`: per day partition: record_count, file_count,
  total_data_file_size_in_bytes (pyiceberg's `inspect.partitions()`, like Trino's `$partitions`);
- `<ns>.<name>_snapshots`: the table's snapshots with their summaries.
Only the names the SQL mentions are read.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import date, datetime

import pyarrow as pa
from pyiceberg.table import Table

NO_DOWNLOADS: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


def _sources(table: Table, where: str | None) -> dict[str, Callable[[], pa.Table]]:
    def readings() -> pa.Table:
        scan = table.scan(row_filter=where) if where else table.scan()
        return scan.to_arrow()

    return {
        "": readings,
        "_partitions": lambda: table.inspect.partitions(),
        "_snapshots": lambda: table.inspect.snapshots(),
    }


def run_query(table: Table, sql: str, where: str | None = None) -> pa.Table:
    """The result of `sql` over the table (and its metadata views) as Arrow."""
    import duckdb

    namespace, name = table.name()[-2], table.name()[-1]
    con = duckdb.connect(config=NO_DOWNLOADS)
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{namespace}"')
        lowered = sql.lower()
        for suffix, load in sorted(_sources(table, where).items(), key=lambda s: -len(s[0])):
            view = f"{name}{suffix}"
            if view.lower() not in lowered:
                continue
            data = load()
            con.register(f"__lake_{view}", data)
            con.execute(f'CREATE VIEW "{namespace}"."{view}" AS SELECT * FROM "__lake_{view}"')
            con.execute(f'CREATE VIEW "{view}" AS SELECT * FROM "__lake_{view}"')
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def render(result: pa.Table, fmt: str = "table") -> str:
    """The result as an aligned text table, CSV or JSON lines (pure)."""
    names = result.column_names
    rows = [[_text(row[n]) for n in names] for row in result.to_pylist()]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(rows)
        return out.getvalue()
    if fmt == "json":
        return "".join(json.dumps(row, default=_text) + "\n" for row in result.to_pylist())
    widths = [max([len(n), *(len(r[i]) for r in rows)]) for i, n in enumerate(names)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    body = [line(names), line(["-" * w for w in widths]), *(line(r) for r in rows)]
    return "\n".join(body) + f"\n({len(rows)} rows)\n"
