"""`python -m iot_pipeline.lake`: the lake's command line.

    python -m iot_pipeline.lake query "SQL" [--where ICEBERG_FILTER] [--format table|csv|json]
    python -m iot_pipeline.lake maintain [--no-compact] [--no-expire]
    python -m iot_pipeline.lake create        create the table (the archiver does it too)
    python -m iot_pipeline.lake describe      schema, partitioning, sort order, snapshot, offsets

Settings (catalog, warehouse, table) are the services' (LAKE_* in docs/configuration.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from iot_pipeline.config import Settings, load_settings_or_exit
from iot_pipeline.lake.catalog import open_catalog, open_table
from iot_pipeline.lake.maintenance import maintain
from iot_pipeline.lake.query import render, run_query
from iot_pipeline.lake.writer import LakeWriter


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m iot_pipeline.lake", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    query = commands.add_parser("query", help="run SQL (DuckDB) over the table")
    query.add_argument("sql")
    query.add_argument(
        "--where", help="Iceberg row filter applied by the scan, e.g. \"tag_mac = 'AA:..'\""
    )
    query.add_argument("--format", choices=("table", "csv", "json"), default="table")
    maintain = commands.add_parser("maintain", help="compact small files, expire old snapshots")
    maintain.add_argument("--no-compact", action="store_true")
    maintain.add_argument("--no-expire", action="store_true")
    commands.add_parser("create", help="create the table if it does not exist")
    commands.add_parser("describe", help="print the table's layout and archived offsets")
    return parser


def _maintain(settings: Settings, args: argparse.Namespace) -> None:
    table = open_table(open_catalog(settings), settings)
    compacted, expired = maintain(
        table,
        settings,
        int(time.time() * 1000),
        compaction=not args.no_compact,
        expiry=not args.no_expire,
    )
    if compacted is not None:
        print(
            f"compaction: {compacted.partitions} partitions, "
            f"{compacted.files_removed} files -> {compacted.files_added}"
        )
    if expired is not None:
        print(
            f"expiry: {expired.snapshots_expired} snapshots expired, "
            f"{expired.files_deleted} unused data files deleted"
        )


def _describe(settings: Settings) -> None:
    table = open_table(open_catalog(settings), settings)
    writer = LakeWriter(table, settings.kafka_topic_name, settings.lake_consumer_group_id)
    print(f"table      {settings.lake_table} at {table.location()}")
    print(f"metadata   {table.metadata_location}")
    print(f"partitions {table.spec()}")
    print(f"sort order {table.sort_order()}")
    snapshot = table.current_snapshot()
    print(f"snapshot   {snapshot.snapshot_id if snapshot else None} of {len(table.snapshots())}")
    print(f"offsets    {writer.table_offsets(refresh=False)}")
    print(table.schema())


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = load_settings_or_exit("lake")
    if args.command == "query":
        table = open_table(open_catalog(settings), settings)
        sys.stdout.write(render(run_query(table, args.sql, args.where), args.format))
    elif args.command == "maintain":
        _maintain(settings, args)
    elif args.command == "create":
        table = open_table(open_catalog(settings), settings)
        print(f"{settings.lake_table} at {table.location()}")
    else:
        _describe(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
