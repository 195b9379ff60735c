"""Write-path measurements for ``make bench``: the writer's two idempotent methods next to a raw
COPY of the same rows into the same table (the upper bound), in the same run."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

from iot_pipeline.storage.rows import Row, reading_to_row
from iot_pipeline.storage.writer import _COLUMNS_SQL, WriteMethod, copy_payload, write_batch


def synthetic_rows(
    count: int, devices: int, prefix: str, start: datetime | None = None
) -> list[Row]:
    """``count`` readings spread over ``devices`` devices, one per device per 10 s."""
    start = start or datetime.now(UTC) - timedelta(days=1)
    rows = []
    for i in range(count):
        device = i % devices
        rows.append(
            reading_to_row(
                {
                    "device_id": f"{prefix}-{device:04d}_temperature",
                    "device_type": "temperature_sensor",
                    "timestamp": start + timedelta(seconds=10 * (i // devices)),
                    "value": 20.0 + (i % 100) / 10,
                    "unit": "°C",
                    "battery_level": 95.0,
                    "metadata": {"bench": prefix},
                    "tag_mac": "AA:BB:CC:DD:EE:FF",
                    "rssi": -60,
                    "measurement_sequence": i % 65536,
                    "is_anomaly": i % 97 == 0,
                }
            )
        )
    return rows


def raw_copy(engine: Engine, rows: Sequence[Row]) -> int:
    """COPY straight into sensor_readings: fastest, but neither idempotent nor safe on replay."""
    conn = engine.raw_connection()
    try:
        with conn.cursor() as cur:
            cur.copy_expert(
                f"COPY sensor_readings ({_COLUMNS_SQL}) FROM STDIN", io.StringIO(copy_payload(rows))
            )
        conn.commit()
    finally:
        conn.close()
    return len(rows)


def _rate(write: Callable[[Sequence[Row]], int], rows: Sequence[Row], batch: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(rows), batch):
        write(rows[i : i + batch])
    return len(rows) / (time.perf_counter() - started)


def measure_write_methods(engine: Engine, count: int, devices: int, batch: int) -> dict[str, float]:
    """Rows/s of raw COPY, the optimistic COPY, COPY-staging + INSERT ON CONFLICT, and multi-row
    INSERT ON CONFLICT,
    each on its own fresh rows (same table, same indexes) in batches of ``batch`` rows."""
    return {
        "raw_copy": _rate(
            lambda r: raw_copy(engine, r), synthetic_rows(count, devices, "raw"), batch
        ),
        "copy_optimistic": _rate(
            lambda r: write_batch(engine, r, WriteMethod.COPY),
            synthetic_rows(count, devices, "copy"),
            batch,
        ),
        "copy_staging_on_conflict": _rate(
            lambda r: write_batch(engine, r, WriteMethod.COPY_STAGING),
            synthetic_rows(count, devices, "staging"),
            batch,
        ),
        "values_on_conflict": _rate(
            lambda r: write_batch(engine, r, WriteMethod.VALUES),
            synthetic_rows(count, devices, "values"),
            batch,
        ),
    }


def markdown_section(markdown: str, title: str) -> str:
    """The body of the `## title` section of a Markdown text, up to the next `## ` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", markdown, re.M | re.S)
    if match is None:
        raise ValueError(f"no '## {title}' section")
    return match.group(1)


def documented_queries(markdown: str) -> list[tuple[str, str]]:
    """(title, statement) for every statement of every ```sql block of a Markdown text; the title
    is the statement's leading ``-- comment`` (the README's TimescaleDB section is written so)."""
    queries = []
    for block in re.findall(r"```sql\n(.*?)```", markdown, flags=re.DOTALL):
        for statement in re.split(r";\s*\n", block):
            if not statement.strip():
                continue
            first = statement.strip().splitlines()[0]
            if not first.startswith("-- "):
                raise ValueError(f"query without a title comment: {statement!r}")
            queries.append((first[3:].strip(), statement.strip()))
    return queries


def load_history(engine: Engine, days: int, devices: int, every_seconds: int) -> int:
    """``days`` of readings of ``devices`` temperature/humidity devices, one per device every
    ``every_seconds``, ending now; written by raw COPY in 10,000-row batches. Returns the count."""
    end = datetime.now(UTC).replace(microsecond=0)
    steps = days * 86400 // every_seconds
    written = 0
    batch: list[Row] = []
    for step in range(steps):
        at = end - timedelta(seconds=step * every_seconds)
        for device in range(devices):
            kind = "temperature" if device % 2 == 0 else "humidity"
            batch.append(
                reading_to_row(
                    {
                        "device_id": f"aa:bb:cc:dd:{device // 256:02x}:{device % 256:02x}_{kind}",
                        "device_type": f"{kind}_sensor",
                        "timestamp": at,
                        "value": 20.0 + (step % 720) / 36,
                        "unit": "°C" if kind == "temperature" else "%",
                        "battery_level": 100.0 - step / steps * 10,
                        "is_anomaly": (step + device) % 500 == 0,
                    }
                )
            )
        if len(batch) >= 10_000:
            written += raw_copy(engine, batch)
            batch = []
    if batch:
        written += raw_copy(engine, batch)
    return written


def query_latencies(
    engine: Engine, queries: Sequence[tuple[str, str]], repeats: int
) -> dict[str, tuple[float, float]]:
    """Per query title: (median, p95) wall time in milliseconds over ``repeats`` runs (after one
    warm-up run)."""
    out: dict[str, tuple[float, float]] = {}
    with engine.connect() as conn:
        for title, sql in queries:
            statement = text(sql.replace(":", r"\:"))
            conn.execute(statement).all()
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                conn.execute(statement).all()
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            out[title] = (
                times[len(times) // 2],
                times[min(len(times) - 1, int(0.95 * len(times)))],
            )
    return out
