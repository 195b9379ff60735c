"""End-to-end helpers for the sink: unique topics and schema, a producer of real Avro readings,
the sink as a real process, and a loopback TCP relay in front of PostgreSQL that a test can cut."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from sqlalchemy import Engine, text

from devstack.kafka_auth import SINK
from iot_pipeline.config import Settings
from iot_pipeline.kafka.config import client_config
from iot_pipeline.kafka.producer import AvroProducer
from iot_pipeline.schemas.registry import load_schema
from tests.conftest import stack_kafka_login, stack_postgres_password
from tests.e2e.processes import ServiceProcess


@dataclass
class SinkEnv:
    schema: str
    topic: str
    dlq_topic: str
    group: str
    settings: Settings
    engine: Engine

    def env(self, **overrides: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "POSTGRES_PASSWORD": stack_postgres_password(),
                "POSTGRES_SCHEMA": self.schema,
                "KAFKA_TOPIC_NAME": self.topic,
                "KAFKA_DLQ_TOPIC_NAME": self.dlq_topic,
                "SINK_CONSUMER_GROUP_ID": self.group,
                "SINK_METRICS_PORT": "0",
                "DATA_SINK_BATCH_SIZE": "500",
                "DATA_SINK_COMMIT_INTERVAL": "0.5",
                "DATA_SINK_RETRY_MAX_BACKOFF": "2",
                "LOG_LEVEL": "INFO",
            }
        )
        env.update(overrides)
        return env

    def count(self, device_prefix: str = "") -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                text(
                    f'SELECT count(*) FROM "{self.schema}".sensor_readings WHERE device_id LIKE :p'
                ),
                {"p": device_prefix + "%"},
            ).scalar_one()

    def distinct_keys(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                text(
                    'SELECT count(*) FROM (SELECT DISTINCT device_id, "timestamp" '
                    f'FROM "{self.schema}".sensor_readings) d'
                )
            ).scalar_one()


def readings(prefix: str, count: int, devices: int = 10) -> list[dict[str, Any]]:
    start = datetime.now(UTC) - timedelta(hours=1)
    return [
        {
            "device_id": f"{prefix}-{i % devices:03d}_temperature",
            "device_type": "temperature_sensor",
            "timestamp": start + timedelta(milliseconds=10 * (i // devices)),
            "value": 20.0 + i % 50 / 10,
            "unit": "°C",
            "battery_level": 90.0,
            "is_anomaly": i % 101 == 0,
            "metadata": {"test": prefix},
        }
        for i in range(count)
    ]


def produce(env: SinkEnv, records: list[dict[str, Any]], raw: list[bytes] = ()) -> None:
    producer = AvroProducer.create(
        env.settings,
        SchemaRegistryClient({"url": env.settings.schema_registry_url}),
        load_schema("iot_sensor_reading.avsc"),
        env.topic,
        client_id="sink-e2e-test",
    )
    for record in records:
        producer.produce(record["device_id"], record)
    for value in raw:
        producer.produce_raw(env.topic, b"poison", value)
    assert producer.flush(60) == 0


class SinkProcess(ServiceProcess):
    def __init__(self, env: dict[str, str], log: Path, profile_to: str | None = None) -> None:
        profiler = ["-m", "cProfile", "-o", profile_to] if profile_to else []
        env = {**env, **stack_kafka_login(SINK)}
        super().__init__("run_timescaledb_sink.py", env, log, profiler)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def dead_letters(env: SinkEnv, expected: int, timeout: float = 30) -> list[Any]:
    consumer = Consumer(
        client_config(
            env.settings,
            {
                "group.id": f"{env.group}-dlq-reader",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            },
        )
    )
    consumer.subscribe([env.dlq_topic])
    found: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(found) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                found.append(message)
    finally:
        consumer.close()
    return found


class TcpRelay:
    """127.0.0.1:<port> -> target, that can be cut (connections reset, new ones refused)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        with self._lock:
            self._closed = False
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            self._closed = True
            if self._listener is not None:
                # shutdown() wakes the thread blocked in accept(); close() alone would not.
                with contextlib.suppress(OSError):
                    self._listener.shutdown(socket.SHUT_RDWR)
                self._listener.close()
                self._listener = None
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with self._lock:
                if self._closed:
                    client.close()
                    return
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
                self._conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 1.0)
                for src in ready:
                    data = src.recv(65536)
                    if not data:
                        return
                    (b if src is a else a).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.close()
