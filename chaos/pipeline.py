"""The pipeline the chaos run hurts: the real adapter, sink, alert consumer and a RuuviTag
simulator as processes on the shared stack, with their own topics, MQTT prefix, consumer groups
and database schema; plus a steady publisher that remembers which messages the broker
acknowledged (those must all be stored)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import ClassVar

import paho.mqtt.client as mqtt
from confluent_kafka import Consumer, KafkaError
from confluent_kafka.schema_registry import SchemaRegistryClient
from sqlalchemy import Engine, text

from bench.adapter_process import AdapterProcess, bench_login, free_port
from bench.common import delete_topic
from bench.e2e_pipeline import Messages
from devstack import kafka_auth, kafka_users
from devstack.config import StackConfig
from iot_pipeline.config import Settings
from iot_pipeline.kafka.consumer import FramedAvroDecoder
from iot_pipeline.storage.engine import create_db_engine
from iot_pipeline.storage.migrate import apply_migrations, default_migrations_dir

Key = tuple[str, int]
HOT_EVERY = 200  # every 200th message is 80 °C (threshold_high fires), the next one 20 °C


class SteadyPublisher(threading.Thread):
    """Publishes QoS 1 at ``rate``/s until stopped; ``acked`` holds the messages the broker
    acknowledged, each with its publish time."""

    def __init__(self, port: int, messages: Messages, rate: float) -> None:
        super().__init__(name="steady-publisher", daemon=True)
        self.messages, self.rate = messages, rate
        self.acked: dict[Key, float] = {}
        self._pending: dict[int, tuple[Key, float]] = {}
        self._early: set[int] = set()
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"chaos-pub-{uuid.uuid4().hex[:6]}",
            protocol=mqtt.MQTTv5,
        )
        self._client.username_pw_set(*bench_login())
        self._client.max_queued_messages_set(0)
        self._client.on_publish = self._on_publish
        self._client.reconnect_delay_set(0.5, 2)
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()

    def _on_publish(self, _c: object, _u: object, mid: int, reason: object, _p: object) -> None:
        # paho calls this holding its own locks: never call paho while holding self._lock.
        with self._lock:
            entry = self._pending.pop(mid, None)
            if entry is None:
                self._early.add(mid)  # acknowledged before run() noted what it was
            else:
                self.acked[entry[0]] = entry[1]

    def run(self) -> None:
        started, i = time.monotonic(), 0
        while not self._done.is_set():
            ahead = started + i / self.rate - time.monotonic()
            if ahead > 0:
                self._done.wait(ahead)
                continue
            key, topic, payload = self.messages.build(1, i, hot=i % HOT_EVERY == 0)
            at = time.time()
            mid = self._client.publish(topic, payload, qos=1).mid
            with self._lock:
                if mid in self._early:
                    self._early.discard(mid)
                    self.acked[key] = at
                else:
                    self._pending[mid] = (key, at)
            i += 1

    def stop(self) -> None:
        self._done.set()
        self.join(5)
        deadline = time.monotonic() + 30
        while self._pending and time.monotonic() < deadline:
            time.sleep(0.2)
        self._client.disconnect()
        self._client.loop_stop()

    def acked_between(self, start: float, end: float) -> list[Key]:
        with self._lock:
            return [key for key, at in self.acked.items() if start <= at < end]


class ChaosPipeline:
    """The four services on private names; ``restart(name)`` after a kill."""

    # Each service on the brokers' secured listener as its own principal, as in `make run` (the
    # simulator publishes to MQTT only).
    PRINCIPALS: ClassVar[dict[str, str]] = {
        "adapter": kafka_auth.ADAPTER,
        "sink": kafka_auth.SINK,
        "alert-consumer": kafka_auth.ALERTS,
    }
    SCRIPTS: ClassVar[dict[str, tuple[str, str]]] = {
        "adapter": ("run_ruuvitag_adapter.py", "ADAPTER_METRICS_PORT"),
        "sink": ("run_timescaledb_sink.py", "SINK_METRICS_PORT"),
        "alert-consumer": ("run_consumer.py", "ALERTS_METRICS_PORT"),
        "simulator": ("run_producer.py", "SIMULATOR_METRICS_PORT"),
    }

    def __init__(self, cfg: StackConfig, settings: Settings, workdir: Path) -> None:
        self.cfg, self.workdir = cfg, workdir
        run_id = uuid.uuid4().hex[:8]
        self.run_id = run_id
        self.schema = f"chaos_{run_id}"
        self.topic = f"chaos-{run_id}"
        self.alerts_topic = f"chaos-{run_id}-alerts"
        self.messages = Messages(f"chaos-{run_id}")
        self.settings = settings.model_copy(update={"postgres_schema": self.schema})
        self.engine: Engine = create_db_engine(self.settings)
        apply_migrations(self.engine, default_migrations_dir(), self.schema)
        self.processes: dict[str, AdapterProcess] = {}

    def env(self, name: str) -> dict[str, str]:
        cfg, prefix = self.cfg, self.messages.prefix
        common = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": cfg.kafka_bootstrap,
            "SCHEMA_REGISTRY_URL": cfg.registry_url,
            "POSTGRES_PASSWORD": cfg.postgres_password,
            "POSTGRES_PORT": str(cfg.postgres_port),
            "POSTGRES_SCHEMA": self.schema,
            "KAFKA_TOPIC_NAME": self.topic,
            "KAFKA_DLQ_TOPIC_NAME": f"{self.topic}-dlq",
            "KAFKA_ALERTS_TOPIC_NAME": self.alerts_topic,
            "MQTT_BROKER_HOST": "127.0.0.1",
            "MQTT_BROKER_PORT": str(cfg.mqtt_port),
            # The stack's test identity: topics of this run's own (the broker refuses anonymous).
            "MQTT_USERNAME": bench_login()[0],
            "MQTT_PASSWORD": bench_login()[1],
            "LOG_LEVEL": "INFO",
            self.SCRIPTS[name][1]: str(free_port()),
        }
        own = {
            "adapter": {
                "ADAPTER_MQTT_TOPICS": ",".join(self.messages.topics()),
                "ADAPTER_STATUS_TOPIC_PREFIX": f"{prefix}/ruuvitag/status/",
                "ADAPTER_MQTT_CLIENT_ID": f"chaos-{self.run_id}",
            },
            "sink": {
                "SINK_CONSUMER_GROUP_ID": f"chaos-sink-{self.run_id}",
                "DATA_SINK_RETRY_MAX_BACKOFF": "2",
                "DATA_SINK_MAINTENANCE_INTERVAL": "3600",
            },
            "alert-consumer": {"KAFKA_CONSUMER_GROUP_ID": f"chaos-alerts-{self.run_id}"},
            "simulator": {
                "IOT_SIMULATOR_MODE": "ruuvi",
                "MQTT_TOPIC": f"{prefix}/ruuvitag/data",
                "IOT_NUM_DEVICES": "4",
                "IOT_DATA_INTERVAL_SEC": "1",
            },
        }
        principal = self.PRINCIPALS.get(name)
        login = {} if principal is None else kafka_users.client_env(cfg, principal)
        return {**common, **own[name], **login}

    def start(self, name: str) -> None:
        script, port_setting = self.SCRIPTS[name]
        self.processes[name] = AdapterProcess(
            self.env(name), self.workdir / f"{name}.log", script, port_setting
        )

    def start_all(self) -> None:
        """The adapter first: it creates the run's topics, which the consumers then find at
        once (a consumer subscribed to a missing topic looks again only every 5 minutes)."""
        self.start("adapter")
        if not self.processes["adapter"].wait_connected():
            raise RuntimeError(f"the adapter did not connect; see {self.workdir}")
        for name in ("sink", "alert-consumer", "simulator"):
            self.start(name)
        if not self.processes["sink"].wait(lambda m: "iot_messages_received_total" in m, 120):
            raise RuntimeError(f"the sink did not start; see {self.workdir}")

    def kill(self, name: str) -> None:
        process = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            process.proc.send_signal(signal.SIGKILL)
        process.proc.wait(10)
        process.stop()  # closes its log

    def healthy(self) -> dict[str, bool]:
        return {name: p.proc.poll() is None for name, p in self.processes.items()}

    # --- what was stored ---------------------------------------------------------------------
    def stored_keys(self) -> set[Key]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT DISTINCT tag_mac, measurement_sequence FROM sensor_readings "
                    "WHERE tag_mac LIKE 'BE:E2:%'"
                )
            ).all()
        return {(tag, seq) for tag, seq in rows}

    def stored_twice(self) -> set[Key]:
        """Messages with a reading stored more than once: one device's row for one measurement
        sequence of one tag twice (the unique index is on (device_id, timestamp); this looks
        past it, at what a replay with another timestamp would leave)."""
        sql = (
            "SELECT DISTINCT tag_mac, measurement_sequence FROM (SELECT device_id, tag_mac, "
            "measurement_sequence FROM sensor_readings WHERE tag_mac LIKE 'BE:E2:%' "
            "GROUP BY 1, 2, 3 HAVING count(*) > 1) twice"
        )
        with self.engine.connect() as conn:
            return {(tag, seq) for tag, seq in conn.execute(text(sql)).all()}

    def first_row_after(self, moment: float, simulator: bool = False) -> float:
        """Seconds from ``moment`` (epoch) to the first row committed after it; NaN if none."""
        where = "tag_mac NOT LIKE 'BE:E2:%'" if simulator else "tag_mac LIKE 'BE:E2:%'"
        sql = (
            "SELECT extract(epoch FROM min(created_at)) FROM sensor_readings "
            f"WHERE {where} AND created_at > to_timestamp(:t)"
        )
        with self.engine.connect() as conn:
            first = conn.execute(text(sql), {"t": moment}).scalar_one()
        return float("nan") if first is None else float(first) - moment

    def alert_events(self) -> list[tuple[str, str]]:
        """(alert id, event type) of every event on the run's alerts topic."""
        decode = FramedAvroDecoder(SchemaRegistryClient({"url": self.cfg.registry_url}))
        consumer = Consumer(
            {
                "bootstrap.servers": self.cfg.kafka_bootstrap,
                "group.id": f"chaos-read-{uuid.uuid4().hex[:6]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
            }
        )
        consumer.subscribe([self.alerts_topic])
        events, idle_until = [], time.monotonic() + 10
        while time.monotonic() < idle_until:
            for message in consumer.consume(500, 1.0):
                error = message.error()
                if error is not None and error.code() != KafkaError._PARTITION_EOF:
                    continue
                if error is None:
                    record = decode(message) or {}
                    events.append((str(record.get("alert_id")), str(record.get("event_type"))))
                    idle_until = time.monotonic() + 3
        consumer.close()
        return events

    def close(self) -> None:
        for process in self.processes.values():
            process.stop()
        with contextlib.suppress(Exception), self.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        self.engine.dispose()
        for topic in (self.topic, f"{self.topic}-dlq", self.alerts_topic):
            with contextlib.suppress(Exception):
                delete_topic(self.cfg.kafka_bootstrap, topic)
