"""The adapter's hot path alone, no servers: main-thread CPU a message for the peers bench's
official-gateway messages read by the adapter's MQTT session and handled by Adapter.handle().

The broker is played over a socketpair: a thread writes N MQTT 5 QoS 1 PUBLISH packets (and reads
the PUBACKs), the session's client believes it is connected; the sink confirms every record on
poll() (no Kafka: the producer's share is not in these figures). The adapter's own loop
(service.run) drives it until every message is acknowledged. BENCH_HOTPATH_BASELINE=<checkout>
measures another version's adapter (e.g. ``git archive main`` unpacked) in alternating rounds in
the same run.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.adapter_process import REPO

MESSAGES = int(os.environ.get("BENCH_HOTPATH_MESSAGES", "20000"))
ROUNDS = int(os.environ.get("BENCH_HOTPATH_ROUNDS", "3"))
BASELINE = os.environ.get("BENCH_HOTPATH_BASELINE")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, byte = divmod(n, 128)
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish_packet(topic: str, payload: bytes, mid: int) -> bytes:
    """An MQTT 5 QoS 1 PUBLISH as the broker sends it (no properties)."""
    encoded = topic.encode()
    body = len(encoded).to_bytes(2, "big") + encoded + mid.to_bytes(2, "big") + b"\0" + payload
    return b"\x32" + _varint(len(body)) + body


class ConfirmingSink:
    """The adapter's RecordSink without Kafka: every record is confirmed on the next poll()."""

    topic = "hotpath"

    def __init__(self, serialize: Callable[[Any], bytes]) -> None:
        self.serialize = serialize
        self._pending: list[Callable[[Any, Any], None]] = []

    def enqueue(self, _t: str, _k: Any, _v: Any, on_delivery: Any, _h: Any = None) -> None:
        self._pending.append(on_delivery)

    def enqueue_batch(self, _t: str, records: Sequence[Any], on_delivery: Any) -> list[Any]:
        self._pending.extend([on_delivery] * len(records))
        return []

    def poll(self, _timeout: float = 0) -> int:
        pending, self._pending = self._pending, []
        for report in pending:
            report(None, None)
        return len(pending)

    def flush(self, _timeout: float = 30.0) -> int:
        return self.poll()


def _serializer(schema_str: str) -> Callable[[Any], bytes]:
    from fastavro import parse_schema, schemaless_writer

    parsed = parse_schema(json.loads(schema_str))

    def serialize(record: Any) -> bytes:
        out = io.BytesIO()
        out.write(b"\0\0\0\0\1")
        schemaless_writer(out, parsed, record)
        return out.getvalue()

    return serialize


def measure() -> float:
    """Main-thread CPU microseconds a message, in this process (the code on sys.path)."""
    from paho.mqtt.client import _ConnectionState
    from prometheus_client import CollectorRegistry

    from bench.gateway_messages import GATEWAY, TAG, gateway_message
    from iot_pipeline.adapter.encoding import records_encoder
    from iot_pipeline.adapter.options import build_options
    from iot_pipeline.adapter.pipeline import Adapter, AdapterMetrics
    from iot_pipeline.adapter.service import run as run_loop
    from iot_pipeline.adapter.session import MqttSession, SessionMetrics
    from iot_pipeline.config import load_settings
    from iot_pipeline.runtime import tune_for_throughput
    from iot_pipeline.schemas import READING_SCHEMA_FILE, load_schema

    settings = load_settings()
    schema_str = load_schema(READING_SCHEMA_FILE)
    sink = ConfirmingSink(_serializer(schema_str))
    metrics = AdapterMetrics(CollectorRegistry())
    adapter: Adapter
    session = MqttSession(
        settings, lambda m: adapter.handle(m), SessionMetrics(CollectorRegistry())
    )
    encode = records_encoder(sink.serialize, schema_str)
    options = build_options(settings)
    adapter = Adapter(sink, "dlq", session.acknowledge, options, metrics, encode_records=encode)
    now = int(time.time())
    topic = f"hotpath/ruuvi/{GATEWAY}/{TAG}"
    stream = b"".join(
        publish_packet(topic, gateway_message(i, now).encode(), i % 65535 + 1)
        for i in range(MESSAGES)
    )
    ours, broker = socket.socketpair()
    ours.setblocking(False)
    session.client._sock = ours
    session.client._state = _ConnectionState.MQTT_CS_CONNECTED
    acked = bytearray()
    stop = threading.Event()

    def play_broker() -> None:
        broker.sendall(stream)
        while len(acked) < 4 * MESSAGES:
            acked.extend(broker.recv(65536))
        stop.set()

    threading.Thread(target=play_broker, daemon=True).start()
    tune_for_throughput()
    started = time.thread_time()
    run_loop(adapter, session, sink, stop)
    used = time.thread_time() - started
    assert acked[::4] == b"\x40" * MESSAGES, "every message acknowledged with a PUBACK"
    return used / MESSAGES * 1e6


def _round(root: Path) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), str(REPO)])}
    env.setdefault("MQTT_BROKER_HOST", "127.0.0.1")
    out = subprocess.run(
        [sys.executable, "-m", "bench.adapter_hotpath", "--measure"],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout
    return float(out.strip().splitlines()[-1])


def run() -> int:
    roots = [("this checkout", REPO)]
    if BASELINE:
        roots.append((f"adapter of {Path(BASELINE).resolve()}", Path(BASELINE).resolve()))
    figures: dict[str, list[float]] = {name: [] for name, _ in roots}
    for _ in range(ROUNDS):
        for name, root in roots:
            figures[name].append(_round(root))
    print(
        f"hot path, {MESSAGES:,} official-gateway messages over a socketpair (no Kafka), "
        f"{ROUNDS} alternating rounds, load average {os.getloadavg()[0]:.1f}: main-thread CPU "
        "a message (MQTT receive + handle() + acknowledgement)"
    )
    for name, values in figures.items():
        shown = ", ".join(f"{v:.0f}" for v in values)
        print(f"  {name + ':':<40} {min(values):.0f}-{max(values):.0f} us ({shown})")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--measure"]:
        print(f"{measure():.2f}")
        raise SystemExit(0)
    raise SystemExit(run())
