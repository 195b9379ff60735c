"""The whole pipeline under the e2e benchmark: the real adapter and sink processes on the local
stack with topics, an MQTT prefix and a database schema of their own; a paced MQTT publisher that
notes each message's publish time; and the commit clock.

The commit clock: the bench's schema gets a statement-level trigger on sensor_readings that sends
``pg_notify`` with the transaction's start time. PostgreSQL delivers a notification only when its
transaction commits, so the time this process receives it is the moment the rows became visible
(plus a local socket hop); every row of that transaction carries the same start time in
``created_at`` (DEFAULT now()), which ties rows to their commit. Publish and commit times are read
from this process's own clock: no device clock is involved.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg2
from psycopg2.extensions import ISOLATION_LEVEL_AUTOCOMMIT
from sqlalchemy import Engine, text

from bench.adapter_process import AdapterProcess, free_port, histogram
from bench.e2e_stats import MessageKey
from devstack.config import REPO_ROOT, StackConfig
from iot_pipeline.config import Settings
from iot_pipeline.ruuvi import RuuviReading, encode_hex
from iot_pipeline.storage.engine import create_db_engine
from iot_pipeline.storage.migrate import apply_migrations, default_migrations_dir

TAGS_PER_STEP = 64
GATEWAY_MAC = "24:0A:C4:E2:E2:01"


def _trigger_sql(schema: str, channel: str) -> str:
    return f"""
CREATE FUNCTION "{schema}".bench_notify_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{channel}', extract(epoch FROM now())::text);
    RETURN NULL;
END $$;
CREATE TRIGGER bench_notify_commit AFTER INSERT ON "{schema}".sensor_readings
    FOR EACH STATEMENT EXECUTE FUNCTION "{schema}".bench_notify_commit();
"""


class CommitClock(threading.Thread):
    """LISTENs on the bench's channel: transaction start time (text) -> when it committed."""

    def __init__(self, cfg: StackConfig, channel: str) -> None:
        super().__init__(name="commit-clock", daemon=True)
        self.committed: dict[str, float] = {}
        self._done = threading.Event()
        self._conn = psycopg2.connect(
            host="127.0.0.1",
            port=cfg.postgres_port,
            dbname=cfg.postgres_db,
            user=cfg.postgres_user,
            password=cfg.postgres_password,
        )
        self._conn.set_isolation_level(ISOLATION_LEVEL_AUTOCOMMIT)
        with self._conn.cursor() as cur:
            cur.execute(f'LISTEN "{channel}"')

    def run(self) -> None:
        while not self._done.is_set():
            if select.select([self._conn], [], [], 0.2)[0]:
                self._conn.poll()
                now = time.time()
                for note in self._conn.notifies:
                    self.committed.setdefault(note.payload, now)
                self._conn.notifies.clear()

    def close(self) -> None:
        self._done.set()
        self.join(5)
        self._conn.close()


class Messages:
    """Firmware (ESP32) and official Ruuvi Gateway messages, alternately; each one's key is
    (tag MAC, measurement sequence) and its timestamps grow per tag so no two readings share a
    (device, timestamp)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._last_ms: dict[str, int] = {}

    def topics(self) -> list[str]:
        return [f"{self.prefix}/ruuvitag/data", f"{self.prefix}/ruuvi/+/+"]

    def build(self, step: int, i: int, hot: bool = False) -> tuple[MessageKey, str, str]:
        """Message ``i`` of ``step``; ``hot``: 80 °C (over the alert rules' threshold)."""
        tag = f"BE:E2:{step:02X}:00:00:{i % TAGS_PER_STEP:02X}"
        sequence = i % 65536
        now_ms = int(time.time() * 1000)
        stamp = max(now_ms, self._last_ms.get(tag, 0) + 1)
        self._last_ms[tag] = stamp
        temperature = 80.0 if hot else 21.0 + i % 50 / 10
        reading = RuuviReading(
            5, temperature, 45.5, 100500, 0.012, -0.004, 1.001, 4, 2.95, i % 255, sequence, tag
        )
        if i % 2:
            mfd = bytes.fromhex("9904" + encode_hex(reading))
            advertisement = bytes([2, 1, 6, len(mfd) + 1, 0xFF]) + mfd
            body = {"gw_mac": GATEWAY_MAC, "rssi": -61, "aoa": [], "ts": stamp, "gwts": stamp,
                    "data": advertisement.hex().upper(), "coords": ""}  # fmt: skip
            topic = f"{self.prefix}/ruuvi/{GATEWAY_MAC}/{tag}"
        else:
            iso = datetime.fromtimestamp(stamp / 1000, UTC).isoformat(timespec="milliseconds")
            body = {
                "gateway_id": "bench-e2e-gw",
                "gateway_mac": GATEWAY_MAC,
                "mac": tag,
                "rssi": -60,
                "timestamp": iso.replace("+00:00", "Z"),
                "data_format": 5,
                "raw": encode_hex(reading),
                **{k: v for k, v in reading.to_dict().items() if k not in ("mac", "data_format")},
            }
            topic = f"{self.prefix}/ruuvitag/data"
        return (tag, sequence), topic, json.dumps(body)


class Publisher:
    """A paho client publishing QoS 1 messages at a steady rate, noting each publish time."""

    def __init__(self, port: int) -> None:
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"bench-e2e-pub-{uuid.uuid4().hex[:6]}",
            protocol=mqtt.MQTTv5,
        )
        self._client.max_inflight_messages_set(1000)
        self._client.max_queued_messages_set(0)
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def run(
        self, messages: Messages, step: int, rate: float, count: int
    ) -> dict[MessageKey, float]:
        """Publish ``count`` messages at ``rate``/s (0: as fast as possible)."""
        published: dict[MessageKey, float] = {}
        started = time.monotonic()
        for i in range(count):
            if rate:
                ahead = started + i / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            key, topic, payload = messages.build(step, i)
            published[key] = time.time()
            self._client.publish(topic, payload, qos=1)
        return published

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


class Pipeline:
    """Adapter + sink on private topics, prefix and schema; the commit clock on that schema."""

    def __init__(self, cfg: StackConfig, settings: Settings, workdir: Path) -> None:
        self.cfg = cfg
        self.run_id = uuid.uuid4().hex[:8]
        self.schema = f"bench_e2e_{self.run_id}"
        self.topic = f"bench-e2e-{self.run_id}"
        self.messages = Messages(f"bench-e2e-{self.run_id}")
        self.workdir = workdir
        self.engine: Engine = create_db_engine(
            settings.model_copy(update={"postgres_schema": self.schema})
        )
        apply_migrations(self.engine, default_migrations_dir(), self.schema)
        channel = f"bench_commit_{self.run_id}"
        with self.engine.begin() as conn:
            conn.execute(text(_trigger_sql(self.schema, channel)))
        self.clock = CommitClock(cfg, channel)
        self.clock.start()
        self.adapter: AdapterProcess | None = None
        self.sink: AdapterProcess | None = None

    def _env(self, **extra: str) -> dict[str, str]:
        cfg = self.cfg
        return {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": cfg.kafka_bootstrap,
            "SCHEMA_REGISTRY_URL": cfg.registry_url,
            "POSTGRES_PASSWORD": cfg.postgres_password,
            "POSTGRES_PORT": str(cfg.postgres_port),
            "POSTGRES_SCHEMA": self.schema,
            "KAFKA_TOPIC_NAME": self.topic,
            "KAFKA_DLQ_TOPIC_NAME": f"{self.topic}-dlq",
            "MQTT_BROKER_HOST": "127.0.0.1",
            "MQTT_BROKER_PORT": str(cfg.mqtt_port),
            "LOG_LEVEL": "WARNING",
            **extra,
        }

    def start(self, linger_ms: float) -> None:
        """(Re)start the adapter (with ``linger_ms``) and, once, the sink; wait until both run."""
        if self.adapter is not None:
            self.adapter.stop()
        self.adapter = AdapterProcess(
            self._env(
                KAFKA_LINGER_MS=str(linger_ms),
                ADAPTER_MQTT_TOPICS=",".join(self.messages.topics()),
                ADAPTER_STATUS_TOPIC_PREFIX=f"{self.messages.prefix}/ruuvitag/status/",
                ADAPTER_MQTT_CLIENT_ID=f"bench-e2e-{self.run_id}",
                ADAPTER_METRICS_PORT=str(free_port()),
            ),
            self.workdir / "adapter.log",
        )
        if not self.adapter.wait_connected():
            raise RuntimeError("the adapter did not connect to MQTT")
        if self.sink is None:
            self.sink = AdapterProcess(
                self._env(
                    SINK_METRICS_PORT=str(free_port()),
                    SINK_CONSUMER_GROUP_ID=f"bench-e2e-{self.run_id}",
                    DATA_SINK_MAINTENANCE_INTERVAL="3600",
                ),
                self.workdir / "sink.log",
                script="run_timescaledb_sink.py",
                port_setting="SINK_METRICS_PORT",
            )
            if not self.sink.wait(lambda m: "iot_messages_received_total" in m, 120):
                raise RuntimeError("the sink did not start")

    def stage_histograms(self) -> dict[str, list[tuple[float, float]]]:
        """The adapter's receive -> Kafka-confirmed and the sink's Kafka -> committed
        histograms as they are now (cumulative buckets)."""
        assert self.adapter is not None and self.sink is not None
        return {
            "adapter": histogram(self.adapter.metrics(), "mqtt_adapter_ack_latency_seconds"),
            "sink": histogram(self.sink.metrics(), "iot_sink_kafka_to_commit_seconds"),
        }

    def stored(self, step: int) -> list[tuple[MessageKey, str]]:
        """(message key, transaction start) of every row of ``step``'s messages."""
        pattern = f"BE:E2:{step:02X}:%"
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT tag_mac, measurement_sequence, extract(epoch FROM created_at)::text "
                    "FROM sensor_readings WHERE tag_mac LIKE :p"
                ),
                {"p": pattern},
            ).all()
        return [((tag, seq), started) for tag, seq, started in rows]

    def stored_messages(self, step: int) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(DISTINCT (tag_mac, measurement_sequence)) "
                        "FROM sensor_readings WHERE tag_mac LIKE :p"
                    ),
                    {"p": f"BE:E2:{step:02X}:%"},
                ).scalar_one()
            )

    def close(self) -> None:
        for process in (self.adapter, self.sink):
            if process is not None:
                process.stop()
        self.clock.close()
        with contextlib.suppress(Exception), self.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        self.engine.dispose()


__all__ = ["REPO_ROOT", "CommitClock", "Messages", "Pipeline", "Publisher"]
