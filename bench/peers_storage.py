"""Part (b) of the peers bench: the same Avro topic drained into PostgreSQL by Telegraf and by the
sink, each into its own fresh schema, next to a raw COPY of the same rows (see bench.peers)."""

from __future__ import annotations

import contextlib
import re
import uuid

from sqlalchemy import text

from bench.common import create_topic, delete_topic
from bench.peers_drain import Drain, _Run, watch
from bench.peers_telegraf import TelegrafProcess, kafka_to_postgres_config
from bench.timescaledb_sink import (
    RECORDS,
    _fill_topic,
    _settings,
    raw_copy_drain,
    sink_drain,
)
from iot_pipeline.config import load_settings
from iot_pipeline.storage.engine import create_db_engine


def _delete_group(bootstrap: str, group: str) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.delete_consumer_groups([group])[group].result(30)


def _telegraf_rows(run: _Run, topic: str) -> Drain:
    cfg = run.cfg
    schema = f"bench_telegraf_{uuid.uuid4().hex[:8]}"
    engine = create_db_engine(_settings())
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    dsn = (
        f"host=127.0.0.1 port={cfg.postgres_port} user={cfg.postgres_user} "  # type: ignore[attr-defined]
        f"password={cfg.postgres_password} dbname={cfg.postgres_db} sslmode=disable"  # type: ignore[attr-defined]
    )
    group = f"bench-telegraf-{run.suffix}"
    run.later(lambda: _delete_group(cfg.kafka_bootstrap, group))  # type: ignore[attr-defined]
    config = kafka_to_postgres_config(
        cfg.kafka_bootstrap.split(","),  # type: ignore[attr-defined]
        topic,
        group,
        cfg.registry_url,  # type: ignore[attr-defined]
        dsn,
        schema,
        load_settings().data_sink_batch_size,
    )
    path = run.workdir / "telegraf-postgres.conf"
    path.write_text(config)
    print(
        "Telegraf configuration (b):\n" + re.sub(r"password=\S+", "password=***", config),
        flush=True,
    )

    def rows() -> int:
        try:
            with engine.connect() as conn:
                return int(
                    conn.execute(
                        text(f'SELECT count(*) FROM "{schema}".sensor_readings')
                    ).scalar_one()
                )
        except Exception:  # the table does not exist until Telegraf's first write
            return 0

    process = TelegrafProcess(run.telegraf, path, run.workdir / "telegraf-postgres.log").start()
    try:
        return watch(rows, RECORDS, process.running, process.cpu_seconds)
    finally:
        process.stop()
        with contextlib.suppress(Exception), engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def storage_part(run: _Run) -> None:
    bootstrap: str = run.cfg.kafka_bootstrap  # type: ignore[attr-defined]
    topic = create_topic(bootstrap, "bench-peers-sink")
    run.later(lambda: delete_topic(bootstrap, topic))
    records = _fill_topic(topic)
    telegraf = _telegraf_rows(run, topic)
    if telegraf.count < RECORDS:
        print(f"WARNING: Telegraf stored only {telegraf.count:,} of {RECORDS:,} rows (see its log)")
        if not telegraf.count:
            raise RuntimeError("Telegraf stored nothing; the comparison is void")
    ours = sink_drain(topic, when_caught_up=None)  # the service defaults
    earlier = sink_drain(topic, when_caught_up=None, DATA_SINK_COPY_FORMAT="text")
    reference = raw_copy_drain(records)
    bare = raw_copy_drain(records, counted=False)
    t_rate = telegraf.rate(telegraf.count)
    print(
        f"(b) {RECORDS:,} Avro readings on a 6-partition topic, Kafka -> PostgreSQL (rows/s; CPU "
        "us a row of the writer + PostgreSQL):\n"
        f"  Telegraf kafka_consumer -> postgresql (plain table): {t_rate:>9,.0f} rows/s\n"
        f"  sink (hypertable, unique + secondary indexes):        {ours}\n"
        f"  sink, COPY text (the earlier path):                   {earlier}\n"
        f"  raw COPY, one client, rows counted as for the others: {reference}\n"
        f"  raw COPY, rows not counted:                           {bare}"
    )
    verdict = "meets" if ours.rate >= 1.5 * t_rate else "BELOW"
    print(f"  sink / Telegraf: {ours.rate / t_rate:.2f}x rows/s ({verdict} the 1.5x target)")
    for label, ref in (("raw COPY", reference), ("raw COPY not counted", bare)):
        verdict = "meets" if ours.rate >= 0.7 * ref.rate else "BELOW"
        print(f"  sink / {label}: {ours.rate / ref.rate:.0%} ({verdict} the 70% target)")
    print(
        f"  earlier path / Telegraf: {earlier.rate / t_rate:.2f}x; / raw COPY: "
        f"{earlier.rate / reference.rate:.0%}, not counted {earlier.rate / bare.rate:.0%}"
    )
