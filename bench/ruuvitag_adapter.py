"""RuuviTag adapter: MQTT -> adapter -> Kafka messages/s and the adapter's added latency.

1. Reference: the same N QoS 1 messages from ``mosquitto_pub -l`` through Mosquitto to a paho
   subscriber alone (what MQTT itself moves on this machine).
2. Throughput: N firmware-format RuuviTag messages (one full Format 5 reading each, nine records)
   through the real adapter process; done when the adapter has acknowledged every message, i.e.
   Kafka (acks=all, RF 3) confirmed all 9 N records.
3. Latency: a steady rate well below capacity; p50/p99 of the adapter's own histogram of the time
   from receiving a message to acknowledging it after Kafka confirmed its records.
4. Where the CPU goes: the paho subscriber's CPU per message in step 1, and the adapter's own
   stages run in this process on the same messages without MQTT (parse and validate, records,
   Avro, then the whole Adapter.handle() with a real producer until Kafka confirmed everything).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from bench.common import create_topic, delete_topic, stack
from devstack.pipeline import metric_samples
from iot_pipeline.adapter.encoding import records_encoder
from iot_pipeline.adapter.incoming import Incoming
from iot_pipeline.adapter.options import build_options
from iot_pipeline.adapter.pipeline import Adapter, AdapterMetrics
from iot_pipeline.adapter.service import drain
from iot_pipeline.adapter.transform import reading_records
from iot_pipeline.adapter.validation import TagReading, parse_message
from iot_pipeline.config import load_settings
from iot_pipeline.ruuvi import RuuviReading, encode_hex

REPO = Path(__file__).resolve().parents[1]
MESSAGES = int(os.environ.get("BENCH_ADAPTER_MESSAGES", "40000"))
LATENCY_RATE = float(os.environ.get("BENCH_ADAPTER_LATENCY_RATE", "500"))
LATENCY_SECONDS = float(os.environ.get("BENCH_ADAPTER_LATENCY_SECONDS", "10"))
TARGET = 5000.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _message(sequence: int) -> str:
    tag = f"BE:AC:00:00:{sequence // 65535 // 256:02X}:{sequence // 65535 % 256:02X}"
    reading = RuuviReading(
        5,
        20.0 + sequence % 100 / 10,
        45.5,
        100500,
        0.012,
        -0.004,
        1.001,
        4,
        2.95,
        sequence % 255,
        sequence % 65535,
        tag,
    )
    payload = {
        "gateway_id": "bench-gw",
        "gateway_mac": "24:0A:C4:12:34:56",
        "mac": tag,
        "rssi": -60,
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "data_format": 5,
        "raw": encode_hex(reading),
        **{k: v for k, v in reading.to_dict().items() if k not in ("mac", "data_format")},
    }
    return json.dumps(payload)


def _publish_lines(port: int, topic: str, lines: Path) -> None:
    with lines.open("rb") as stdin:
        subprocess.run(
            [
                "mosquitto_pub",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-q",
                "1",
                "-M",
                "1000",
                "-t",
                topic,
                "-l",
            ],
            stdin=stdin,
            check=True,
            timeout=600,
        )


def reference_rate(port: int, lines: Path, count: int) -> tuple[float, int, float]:
    """mosquitto_pub -> Mosquitto -> paho subscriber (QoS 1, MQTT 5 with the adapter's Receive
    Maximum): messages/s up to the last message received, how many arrived, and the CPU seconds
    this process (the subscriber) spent."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    topic = f"bench/reference/{uuid.uuid4().hex[:8]}"
    received = 0
    last = time.monotonic()
    subscribed = threading.Event()

    def on_message(_c: object, _u: object, _m: object) -> None:
        nonlocal received, last
        received += 1
        last = time.monotonic()

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"bench-ref-{uuid.uuid4().hex[:6]}",
        protocol=mqtt.MQTTv5,
    )
    client.on_message = on_message
    client.on_subscribe = lambda *_: subscribed.set()
    properties = Properties(PacketTypes.CONNECT)
    properties.ReceiveMaximum = 65535
    client.connect("127.0.0.1", port, properties=properties)
    client.subscribe(topic, qos=1)
    client.loop_start()
    subscribed.wait(10)
    started = time.monotonic()
    cpu_started = time.process_time()
    _publish_lines(port, topic, lines)
    while received < count and time.monotonic() - last < 5:
        time.sleep(0.1)
    cpu = time.process_time() - cpu_started
    elapsed = max(last - started, 1e-9)
    client.disconnect()
    client.loop_stop()
    return received / elapsed, received, cpu


def cost_breakdown(cfg: Any, topic: str, dlq: str, count: int = 5000) -> dict[str, float]:
    """CPU microseconds per message of the adapter's stages, in this process, no MQTT: the same
    code and settings as the service, the whole handle() with a real producer (acks=all) until
    Kafka has confirmed every record and the message is acknowledged."""
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from prometheus_client import CollectorRegistry

    from iot_pipeline.kafka.producer import AvroProducer
    from iot_pipeline.schemas import READING_SCHEMA_FILE, load_schema

    settings = load_settings(
        kafka_bootstrap_servers=cfg.kafka_bootstrap,
        schema_registry_url=cfg.registry_url,
        kafka_topic_name=topic,
        kafka_dlq_topic_name=dlq,
    )
    options = build_options(settings)
    schema_str = load_schema(READING_SCHEMA_FILE)
    producer = AvroProducer.create(
        settings,
        SchemaRegistryClient({"url": settings.schema_registry_url}),
        schema_str,
        topic,
        client_id="bench-adapter-stages",
    )
    encode = records_encoder(producer.serialize, schema_str)
    now = datetime.now(UTC)
    messages = [
        Incoming("bench/ruuvitag/data", _message(i).encode(), i % 65535 + 1, 1, now, 0.0)
        for i in range(count)
    ]

    def per_message(started: float) -> float:
        return (time.process_time() - started) / count * 1e6

    started = time.process_time()
    readings = [parse_message(m.topic, m.payload, m.received_at, options.limits) for m in messages]
    parse = per_message(started)
    assert all(isinstance(r, TagReading) for r in readings)
    started = time.process_time()
    grouped = [reading_records(r, options.thresholds, options.battery) for r in readings]  # type: ignore[arg-type]
    records = per_message(started)
    started = time.process_time()
    for group in grouped:
        encode(group)
    avro = per_message(started)

    acknowledged = 0

    def acknowledge(_mid: int, _qos: int) -> None:
        nonlocal acknowledged
        acknowledged += 1

    adapter = Adapter(
        producer,
        dlq,
        acknowledge,
        options,
        AdapterMetrics(CollectorRegistry()),
        encode_records=encode,
    )
    # Unique (tag, sequence) per message, so the duplicate filter lets every one through.
    messages = [m._replace(payload=_message(count + i).encode()) for i, m in enumerate(messages)]
    started = time.process_time()
    for message in messages:
        adapter.handle(message)
        producer.poll(0)
    drain(adapter, producer, timeout=60)
    whole = per_message(started)
    assert acknowledged == count, f"{acknowledged} of {count} acknowledged"
    return {"parse": parse, "records": records, "avro": avro, "whole": whole}


class _Adapter:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = int(env["ADAPTER_METRICS_PORT"])
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "run_ruuvitag_adapter.py")],
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system, every thread: librdkafka's too) the adapter used so far;
        None where /proc is not available."""
        try:
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        except OSError:
            return None
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def metrics(self) -> dict[str, float]:
        try:
            return metric_samples(self.port)
        except OSError:
            return {}

    def wait(self, condition, timeout: float) -> bool:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the adapter exited; see its log")
            if condition(self.metrics()):
                return True
            time.sleep(0.1)
        return False

    def wait_connected(self) -> bool:
        connected = self.wait(lambda m: m.get("mqtt_adapter_mqtt_connected") == 1.0, 120)
        time.sleep(1.0)  # the subscription follows the connection: give the SUBACK a moment
        return connected

    def stop(self) -> None:
        if self._log.closed:
            return
        with contextlib.suppress(Exception):
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)
        if self.proc.poll() is None:
            self.proc.kill()
        self._log.close()


def _histogram(metrics: dict[str, float], name: str) -> list[tuple[float, float]]:
    buckets = []
    for key, value in metrics.items():
        if key.startswith(f'{name}_bucket{{le="'):
            le = key.split('"')[1]
            buckets.append((float("inf") if le == "+Inf" else float(le), value))
    return sorted(buckets)


def percentile(
    before: list[tuple[float, float]], after: list[tuple[float, float]], q: float
) -> float:
    """q-quantile of the observations between two snapshots of a cumulative histogram,
    interpolated linearly inside the bucket."""
    base = dict(before)
    counts = [(le, value - base.get(le, 0.0)) for le, value in after]
    total = counts[-1][1] if counts else 0.0
    if total <= 0:
        return float("nan")
    rank = q * total
    lower_le, lower_count = 0.0, 0.0
    for le, cumulative in counts:
        if cumulative >= rank:
            if le == float("inf"):
                return lower_le
            inside = cumulative - lower_count
            fraction = (rank - lower_count) / inside if inside else 1.0
            return lower_le + (le - lower_le) * fraction
        lower_le, lower_count = le, cumulative
    return lower_le


@dataclass
class Drained:
    handled: int
    elapsed: float
    published: float
    before: list[dict[str, float]]
    after: list[dict[str, float]]
    cpu: list[float | None]

    @property
    def rate(self) -> float:
        return self.handled / self.elapsed

    @property
    def per_adapter(self) -> list[float]:
        key = "mqtt_adapter_messages_received_total"
        pairs = zip(self.before, self.after, strict=True)
        return [a.get(key, 0.0) - b.get(key, 0.0) for b, a in pairs]


def drain_rate(adapters: list[_Adapter], port: int, topic: str, lines: Path) -> Drained | None:
    """Publish ``lines`` to ``topic`` and wait until the adapters handled and acknowledged all
    of them (or nothing moved for 15 s: the broker dropped some, reported by the caller)."""
    key = "mqtt_adapter_messages_received_total"
    before = [a.metrics() for a in adapters]
    cpu_before = [a.cpu_seconds() for a in adapters]
    base = sum(m.get(key, 0.0) for m in before)
    started = time.monotonic()
    _publish_lines(port, topic, lines)
    published = time.monotonic() - started
    last_count, last_change = -1.0, time.monotonic()
    while True:
        after = [a.metrics() for a in adapters]
        count = sum(m.get(key, 0.0) for m in after) - base
        idle = all(m.get("mqtt_adapter_pending_messages", 1) == 0 for m in after)
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        if (count >= MESSAGES and idle) or (idle and time.monotonic() - last_change > 15):
            break
        if time.monotonic() - started > 600 or any(a.proc.poll() is not None for a in adapters):
            print("the adapter did not finish within 600 s", file=sys.stderr)
            return None
        # Not faster: each scrape costs the adapter a few ms of its one core.
        time.sleep(0.25)
    elapsed = (time.monotonic() if count >= MESSAGES else last_change) - started
    cpu = [
        None if b is None or a is None else a - b
        for b, a in zip(cpu_before, [x.cpu_seconds() for x in adapters], strict=True)
    ]
    return Drained(int(last_count), elapsed, published, before, after, cpu)


def run() -> int:
    cfg = stack()
    port = cfg.mqtt_port
    suffix = uuid.uuid4().hex[:8]
    topic = create_topic(cfg.kafka_bootstrap, "bench-adapter")
    dlq = create_topic(cfg.kafka_bootstrap, "bench-adapter-dlq", partitions=1)
    prefix = f"bench-{suffix}"
    data_topic = f"{prefix}/ruuvitag/data"
    workdir = Path(tempfile.mkdtemp(prefix="bench-adapter-"))
    env = dict(os.environ)
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": cfg.kafka_bootstrap,
            "SCHEMA_REGISTRY_URL": cfg.registry_url,
            "KAFKA_TOPIC_NAME": topic,
            "KAFKA_DLQ_TOPIC_NAME": dlq,
            "KAFKA_ALERTS_TOPIC_NAME": f"{topic}-alerts",
            "MQTT_BROKER_HOST": "127.0.0.1",
            "MQTT_BROKER_PORT": str(port),
            "ADAPTER_MQTT_TOPICS": data_topic,
            "ADAPTER_MQTT_CLIENT_ID": f"bench-adapter-{suffix}",
            "ADAPTER_METRICS_PORT": str(_free_port()),
            "LOG_LEVEL": "WARNING",
            # The broker forgets the bench's sessions a minute after the run.
            "ADAPTER_MQTT_SESSION_EXPIRY_SEC": "60",
        }
    )
    lines = workdir / "messages.jsonl"
    lines.write_text("".join(_message(i) + "\n" for i in range(MESSAGES)))
    adapter = _Adapter(env, workdir / "adapter.log")
    extra: list[_Adapter] = []
    try:
        ref, arrived, ref_cpu = reference_rate(port, lines, MESSAGES)
        print(
            f"reference: mosquitto_pub -> Mosquitto -> paho subscriber, QoS 1: {ref:,.0f} msg/s "
            f"({arrived:,} of {MESSAGES:,} arrived; paho used {ref_cpu / arrived * 1e6:,.0f} us "
            "of CPU per message)"
        )

        if not adapter.wait_connected():
            print("the adapter did not connect to MQTT", file=sys.stderr)
            return 1
        drained = drain_rate([adapter], port, data_topic, lines)
        if drained is None:
            return 1
        rate = drained.rate
        before, after = drained.before[0], drained.after[0]
        if drained.handled < MESSAGES:
            print(
                f"WARNING: Mosquitto delivered only {drained.handled:,} of {MESSAGES:,} accepted "
                "messages to the adapter (see 'Outgoing messages are being dropped' in its log)"
            )
        records = after.get("mqtt_adapter_records_published_total", 0) - before.get(
            "mqtt_adapter_records_published_total", 0
        )
        print(
            f"adapter: {drained.handled:,} RuuviTag messages ({records:,.0f} Avro records, "
            f"acks=all, RF 3) in {drained.elapsed:.1f}s = {rate:,.0f} msg/s (published in "
            f"{drained.published:.1f}s)"
        )
        name = "mqtt_adapter_ack_latency_seconds"
        full_p50 = percentile(_histogram(before, name), _histogram(after, name), 0.5)
        full_p99 = percentile(_histogram(before, name), _histogram(after, name), 0.99)
        print(
            f"  at full load, receive -> Kafka-confirmed ack: p50 {full_p50 * 1000:.1f} ms, "
            f"p99 {full_p99 * 1000:.1f} ms (queueing included)"
        )
        print(f"adapter vs MQTT alone: {rate / ref:.0%} of the paho subscriber's rate")
        cpu = drained.cpu[0]
        if cpu is not None and drained.handled:
            print(
                f"  adapter process CPU: {cpu / drained.handled * 1e6:,.0f} us per message, "
                f"{cpu / drained.elapsed:.0%} of one core while draining (the rest of the "
                f"machine: Kafka, Mosquitto, the publisher); one core to itself would move about "
                f"{drained.handled / cpu:,.0f} msg/s"
            )
        verdict = "meets" if rate >= TARGET else "BELOW"
        print(f"adapter: {rate:,.0f} msg/s {verdict} the {TARGET:,.0f} msg/s target")

        stages = cost_breakdown(cfg, topic, dlq)
        rest = stages["whole"] - stages["parse"] - stages["records"] - stages["avro"]
        print(
            f"  the adapter's work per message without MQTT (CPU, this process): parse and "
            f"validate {stages['parse']:.0f} us + records {stages['records']:.0f} us + Avro "
            f"{stages['avro']:.0f} us (each measured alone) + the rest of handle() and the "
            f"confirmations: nine produce() calls, nine delivery callbacks, the acknowledgement, "
            f"metrics {rest:.0f} us = {stages['whole']:.0f} us"
        )
        print(
            f"  paho's receive ({ref_cpu / arrived * 1e6:,.0f} us) + that work "
            f"({stages['whole']:.0f} us) = {ref_cpu / arrived * 1e6 + stages['whole']:,.0f} us "
            "a message on one Python thread"
        )

        # Latency at a steady rate well below capacity.
        before = adapter.metrics()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-lat-{suffix}")
        client.max_inflight_messages_set(1000)
        client.connect("127.0.0.1", port)
        client.loop_start()
        sent = 0
        start = time.monotonic()
        while time.monotonic() - start < LATENCY_SECONDS:
            due = start + sent / LATENCY_RATE
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            client.publish(data_topic, _message(MESSAGES + sent), qos=1)
            sent += 1
        adapter.wait(
            lambda m: (
                m.get("mqtt_adapter_messages_received_total", 0)
                >= before.get("mqtt_adapter_messages_received_total", 0) + sent
                and m.get("mqtt_adapter_pending_messages", 1) == 0
            ),
            120,
        )
        client.disconnect()
        client.loop_stop()
        after = adapter.metrics()
        p50 = percentile(_histogram(before, name), _histogram(after, name), 0.5)
        p99 = percentile(_histogram(before, name), _histogram(after, name), 0.99)
        print(
            f"  at {LATENCY_RATE:.0f} msg/s for {LATENCY_SECONDS:.0f}s, added latency (receive -> "
            f"Kafka-confirmed ack): p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
        )
        adapter.stop()

        # Scaling out: two processes splitting one MQTT 5 shared subscription.
        shared_topic = f"{prefix}/shared/ruuvitag/data"
        pair = [
            _Adapter(
                {
                    **env,
                    "ADAPTER_MQTT_TOPICS": f"$share/{prefix}/{shared_topic}",
                    "ADAPTER_MQTT_CLIENT_ID": f"bench-adapter-{suffix}-{n}",
                    "ADAPTER_METRICS_PORT": str(_free_port()),
                },
                workdir / f"adapter-{n}.log",
            )
            for n in (1, 2)
        ]
        extra.extend(pair)
        if not all(a.wait_connected() for a in pair):
            print("the shared-subscription adapters did not connect", file=sys.stderr)
            return 1
        shared = drain_rate(pair, port, shared_topic, lines)
        if shared is None:
            return 1
        split = " + ".join(f"{n:,.0f}" for n in shared.per_adapter)
        print(
            f"two adapter processes on a shared subscription: {shared.rate:,.0f} msg/s "
            f"({split} messages; {shared.rate / rate:.2f}x one process on this 2-core machine)"
        )
        return 0
    finally:
        adapter.stop()
        for other in extra:
            other.stop()
        for name in (topic, dlq, f"{topic}-alerts"):
            with contextlib.suppress(Exception):
                delete_topic(cfg.kafka_bootstrap, name)
