"""Periodic storage maintenance: aggregate refresh (Apache edition), archiving of old chunks into
sensor_readings_archive, and retention with drop_chunks (both editions). Needs the owner's rights:
the sink runs it when its role owns the schema; otherwise the owner runs
``python -m iot_pipeline.storage.maintenance`` (once, or ``--every SECONDS``)."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from loguru import logger
from sqlalchemy import Engine, text

from iot_pipeline.storage.migrate import Edition
from iot_pipeline.storage.schema import sensor_readings

AGGREGATE_VIEWS = ("sensor_readings_hourly", "sensor_readings_daily")
_ALL_COLUMNS = ", ".join(f'"{c.name}"' for c in sensor_readings.columns)


def storage_path(edition: Edition) -> dict[str, str]:
    """What the schema does on this edition (logged and exported as an Info metric)."""
    if edition is Edition.TIMESCALE:
        return {
            "edition": edition.value,
            "aggregates": "continuous_aggregate",
            "compression": "policy",
            "retention": "policy+drop_chunks",
        }
    return {
        "edition": edition.value,
        "aggregates": "materialized_view",
        "compression": "none",
        "retention": "drop_chunks",
    }


@dataclass(frozen=True)
class MaintenanceReport:
    archived_rows: int
    archive_boundary: datetime | None
    dropped_chunks: int
    refreshed: tuple[str, ...]


def archive_old_chunks(engine: Engine, archive_after_days: int) -> tuple[int, datetime | None]:
    """Move whole chunks of sensor_readings older than ``archive_after_days`` into the archive.

    Copy and drop happen in one transaction: a row is in exactly one of the two tables. The copy
    covers exactly the chunks drop_chunks removes (everything before the newest qualifying chunk
    end), and ON CONFLICT makes a repeated run harmless.
    """
    with engine.begin() as conn:
        boundary = conn.execute(
            text(
                """
                SELECT max(range_end) FROM timescaledb_information.chunks
                WHERE hypertable_name = 'sensor_readings'
                  AND hypertable_schema = current_schema()
                  AND range_end <= now() - make_interval(days => :days)
                """
            ),
            {"days": archive_after_days},
        ).scalar()
        if boundary is None:
            return 0, None
        moved = conn.execute(
            text(
                f"INSERT INTO sensor_readings_archive ({_ALL_COLUMNS}) "
                f'SELECT {_ALL_COLUMNS} FROM sensor_readings WHERE "timestamp" < :boundary '
                'ON CONFLICT (device_id, "timestamp") DO NOTHING'
            ),
            {"boundary": boundary},
        ).rowcount
        conn.execute(
            text("SELECT drop_chunks('sensor_readings', older_than => CAST(:b AS timestamptz))"),
            {"b": boundary},
        )
    return moved, boundary


def apply_retention(engine: Engine, retention_days: int) -> int:
    """Drop chunks older than ``retention_days`` from both tables; returns how many went."""
    dropped = 0
    with engine.begin() as conn:
        for table in ("sensor_readings_archive", "sensor_readings"):
            dropped += len(
                conn.execute(
                    text(
                        "SELECT drop_chunks(CAST(:t AS regclass), "
                        "older_than => now() - make_interval(days => :days))"
                    ),
                    {"t": table, "days": retention_days},
                ).all()
            )
    return dropped


def refresh_materialized_views(engine: Engine) -> tuple[str, ...]:
    """Apache edition: recompute the aggregate views without blocking their readers."""
    with engine.begin() as conn:
        for view in AGGREGATE_VIEWS:
            conn.execute(text(f"REFRESH MATERIALIZED VIEW CONCURRENTLY {view}"))
    return AGGREGATE_VIEWS


def run_maintenance(
    engine: Engine, edition: Edition, archive_after_days: int, retention_days: int
) -> MaintenanceReport:
    archived, boundary = archive_old_chunks(engine, archive_after_days)
    dropped = apply_retention(engine, retention_days)
    refreshed: tuple[str, ...] = ()
    if edition is Edition.APACHE:
        refreshed = refresh_materialized_views(engine)
    report = MaintenanceReport(archived, boundary, dropped, refreshed)
    logger.info(
        "maintenance: archived {} rows (before {}), dropped {} chunks, refreshed {}",
        archived,
        boundary,
        dropped,
        list(refreshed) or "nothing (continuous aggregates refresh themselves)",
    )
    return report


def check_connection(engine: Engine) -> int:
    """0 if the database answers and has TimescaleDB loaded, else 1 (the reason is logged)."""
    from iot_pipeline.storage.migrate import detect_edition

    try:
        with engine.connect() as conn:
            detect_edition(conn)
        return 0
    except Exception as exc:
        logger.error("storage maintenance check failed: {}", exc)
        return 1
    finally:
        engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the storage maintenance as the schema's owner (POSTGRES_* settings), once or on a
    schedule until SIGTERM."""
    from iot_pipeline.config import load_settings_or_exit
    from iot_pipeline.observability.logging import configure_logging
    from iot_pipeline.storage.engine import create_db_engine
    from iot_pipeline.storage.migrate import detect_edition
    from iot_pipeline.stream.stopping import stop_on_signals

    parser = argparse.ArgumentParser(
        prog="python -m iot_pipeline.storage.maintenance", description=main.__doc__
    )
    parser.add_argument(
        "--every",
        type=float,
        default=0.0,
        help="seconds between runs (DATA_SINK_MAINTENANCE_INTERVAL is the sink's); 0: run once",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="only connect and read the TimescaleDB edition (a healthcheck); exit 1 on failure",
    )
    args = parser.parse_args(argv)
    settings = load_settings_or_exit("storage-maintenance")
    configure_logging(settings.log_level, settings.log_format, "storage-maintenance")
    engine = create_db_engine(settings)
    if args.check:
        return check_connection(engine)
    stop: threading.Event = stop_on_signals()
    failed = False
    try:
        while True:
            try:
                with engine.connect() as conn:
                    edition = detect_edition(conn)
                run_maintenance(
                    engine,
                    edition,
                    settings.postgres_archive_after_days,
                    settings.postgres_retention_days,
                )
                failed = False
            except Exception as exc:  # one failed run must not end the schedule
                logger.error("storage maintenance failed: {}", exc)
                failed = True
            if args.every <= 0 or stop.wait(args.every):
                return 1 if failed else 0
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
