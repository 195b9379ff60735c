"""RuuviTag adapter: MQTT -> adapter -> Kafka messages/s and the adapter's added latency.

1. Reference: the same N QoS 1 messages from ``mosquitto_pub -l`` through Mosquitto to a paho
   subscriber alone (what MQTT itself moves on this machine).
2. Throughput: N firmware-format RuuviTag messages (one full Format 5 reading each, nine records;
   with BENCH_ADAPTER_FORMAT=E1 a Ruuvi Air E1 reading each, eleven records) through the real
   adapter process; done when the adapter has acknowledged every message, i.e. Kafka (acks=all,
   RF 3) confirmed all their records. ADAPTER_DERIVED_VALUES (default on) adds the derived
   records (2 per Format 5 reading, 3 per E1); set it to false to compare with a build without.
3. Latency: a steady rate well below capacity; p50/p99 of the adapter's own histogram of the time
   from receiving a message to acknowledging it after Kafka confirmed its records.
4. Where the CPU goes: the paho subscriber's CPU per message in step 1, and the adapter's own
   stages run in this process on the same messages without MQTT (parse and validate, records,
   Avro, then the whole Adapter.handle() with a real producer until Kafka confirmed everything).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from bench.adapter_process import (
    FORMAT,
    AdapterProcess,
    Drained,
    bench_login,
    drain_rate,
    free_port,
    histogram,
    message,
    percentile,
    reference_rate,
)
from bench.common import create_topic, delete_topic, stack
from devstack.kafka_auth import ADAPTER
from devstack.kafka_users import client_env
from devstack.tls import tls_dir
from iot_pipeline.adapter.encoding import EncodeRecords, records_encoder
from iot_pipeline.adapter.incoming import Incoming
from iot_pipeline.adapter.options import AdapterOptions, build_options
from iot_pipeline.adapter.pipeline import Adapter, AdapterMetrics
from iot_pipeline.adapter.service import drain
from iot_pipeline.adapter.transform import RecordMaker
from iot_pipeline.adapter.validation import TagReading, parse_message
from iot_pipeline.config import load_settings
from iot_pipeline.kafka.producer import AvroProducer

MESSAGES = int(os.environ.get("BENCH_ADAPTER_MESSAGES", "40000"))
LATENCY_RATE = float(os.environ.get("BENCH_ADAPTER_LATENCY_RATE", "500"))
LATENCY_SECONDS = float(os.environ.get("BENCH_ADAPTER_LATENCY_SECONDS", "10"))
TARGET = 5000.0
ACK_LATENCY = "mqtt_adapter_ack_latency_seconds"


def _stages_producer(cfg: Any, topic: str, dlq: str) -> tuple[AdapterOptions, AvroProducer, str]:
    """The service's options and producer, for the bench's topics."""
    from confluent_kafka.schema_registry import SchemaRegistryClient

    from iot_pipeline.schemas import READING_SCHEMA_FILE, load_schema

    settings = load_settings(
        kafka_bootstrap_servers=cfg.kafka_bootstrap,
        schema_registry_url=cfg.registry_url,
        kafka_topic_name=topic,
        kafka_dlq_topic_name=dlq,
    )
    schema_str = load_schema(READING_SCHEMA_FILE)
    producer = AvroProducer.create(
        settings,
        SchemaRegistryClient({"url": settings.schema_registry_url}),
        schema_str,
        topic,
        client_id="bench-adapter-stages",
    )
    return build_options(settings), producer, schema_str


def _each_stage(
    messages: list[Incoming], options: AdapterOptions, encode: EncodeRecords
) -> dict[str, float]:
    """CPU microseconds per message of parsing, records and Avro, each alone."""
    count = len(messages)

    def per_message(started: float) -> float:
        return (time.process_time() - started) / count * 1e6

    started = time.process_time()
    readings = [parse_message(m.topic, m.payload, m.received_at, options.limits) for m in messages]
    parse = per_message(started)
    assert all(isinstance(r, TagReading) for r in readings)
    started = time.process_time()
    make = RecordMaker(options.thresholds, options.battery, options.derived_values)
    grouped = [make(r) for r in readings]  # type: ignore[arg-type]
    records = per_message(started)
    started = time.process_time()
    for group in grouped:
        encode(group)
    avro = per_message(started)
    return {"parse": parse, "records": records, "avro": avro}


def cost_breakdown(cfg: Any, topic: str, dlq: str, count: int = 5000) -> dict[str, float]:
    """CPU microseconds per message of the adapter's stages, in this process, no MQTT: the same
    code and settings as the service, the whole handle() with a real producer (acks=all) until
    Kafka has confirmed every record and the message is acknowledged."""
    from prometheus_client import CollectorRegistry

    options, producer, schema_str = _stages_producer(cfg, topic, dlq)
    encode = records_encoder(producer.serialize, schema_str)
    now = datetime.now(UTC)
    messages = [
        Incoming("bench/ruuvitag/data", message(i).encode(), i % 65535 + 1, 1, now, 0.0)
        for i in range(count)
    ]
    stages = _each_stage(messages, options, encode)
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
    messages = [m._replace(payload=message(count + i).encode()) for i, m in enumerate(messages)]
    started = time.process_time()
    for incoming in messages:
        adapter.handle(incoming)
        producer.poll(0)
    drain(adapter, producer, timeout=60)
    stages["whole"] = (time.process_time() - started) / count * 1e6
    assert acknowledged == count, f"{acknowledged} of {count} acknowledged"
    return stages


@dataclass
class _Run:
    """One run of the bench: its stack, topics, names, adapter environment and processes."""

    cfg: Any
    topic: str
    dlq: str
    suffix: str
    workdir: Path
    started: list[AdapterProcess] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return f"bench-{self.suffix}"

    @property
    def data_topic(self) -> str:
        return f"{self.prefix}/ruuvitag/data"

    @property
    def lines(self) -> Path:
        return self.workdir / "messages.jsonl"


def _environment(run: _Run) -> dict[str, str]:
    cfg, topic, dlq, suffix = run.cfg, run.topic, run.dlq, run.suffix
    env = dict(os.environ)
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": cfg.kafka_bootstrap,
            "SCHEMA_REGISTRY_URL": cfg.registry_url,
            "KAFKA_TOPIC_NAME": topic,
            "KAFKA_DLQ_TOPIC_NAME": dlq,
            "KAFKA_ALERTS_TOPIC_NAME": f"{topic}-alerts",
            "MQTT_BROKER_HOST": "127.0.0.1",
            "MQTT_BROKER_PORT": str(cfg.mqtt_port),
            "MQTT_USERNAME": bench_login()[0],
            "MQTT_PASSWORD": bench_login()[1],
            "ADAPTER_MQTT_TOPICS": run.data_topic,
            "ADAPTER_MQTT_CLIENT_ID": f"bench-adapter-{suffix}",
            "ADAPTER_METRICS_PORT": str(free_port()),
            "LOG_LEVEL": "WARNING",
            # The broker forgets the bench's sessions a minute after the run.
            "ADAPTER_MQTT_SESSION_EXPIRY_SEC": "60",
        }
    )
    return env


def _report_throughput(drained: Drained, ref: float) -> None:
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
        f"adapter: {drained.handled:,} Format {FORMAT} messages ({records:,.0f} Avro records, "
        f"acks=all, RF 3) in {drained.elapsed:.1f}s = {rate:,.0f} msg/s (published in "
        f"{drained.published:.1f}s)"
    )
    full_p50 = percentile(histogram(before, ACK_LATENCY), histogram(after, ACK_LATENCY), 0.5)
    full_p99 = percentile(histogram(before, ACK_LATENCY), histogram(after, ACK_LATENCY), 0.99)
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


def _report_costs(cfg: Any, topic: str, dlq: str, paho_us: float) -> None:
    stages = cost_breakdown(cfg, topic, dlq)
    rest = stages["whole"] - stages["parse"] - stages["records"] - stages["avro"]
    print(
        f"  the adapter's work per message without MQTT (CPU, this process): parse and "
        f"validate {stages['parse']:.0f} us + records {stages['records']:.0f} us + Avro "
        f"{stages['avro']:.0f} us (each measured alone) + the rest of handle() and the "
        f"confirmations: a produce() call and a delivery callback per record, the acknowledgement, "
        f"metrics {rest:.0f} us = {stages['whole']:.0f} us"
    )
    print(
        f"  stock paho's receive on the reference subscriber: {paho_us:,.0f} us a message; the "
        "adapter's own receive path (adapter/mqtt_client.py: buffered reads, QoS 1 PUBLISH "
        "decoded in place, PUBACKs written together) costs less: its process CPU above is "
        "what it spends in all"
    )


def _latency(adapter: AdapterProcess, port: int, data_topic: str, suffix: str) -> None:
    """Latency at a steady rate well below capacity."""
    before = adapter.metrics()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-lat-{suffix}")
    client.username_pw_set(*bench_login())
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
        client.publish(data_topic, message(MESSAGES + sent), qos=1)
        sent += 1

    def done(m: dict[str, float]) -> bool:
        return (
            m.get("mqtt_adapter_messages_received_total", 0)
            >= before.get("mqtt_adapter_messages_received_total", 0) + sent
            and m.get("mqtt_adapter_pending_messages", 1) == 0
        )

    adapter.wait(done, 120)
    client.disconnect()
    client.loop_stop()
    after = adapter.metrics()
    p50 = percentile(histogram(before, ACK_LATENCY), histogram(after, ACK_LATENCY), 0.5)
    p99 = percentile(histogram(before, ACK_LATENCY), histogram(after, ACK_LATENCY), 0.99)
    print(
        f"  at {LATENCY_RATE:.0f} msg/s for {LATENCY_SECONDS:.0f}s, added latency (receive -> "
        f"Kafka-confirmed ack): p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
    )


def _shared_subscription(run: _Run, env: dict[str, str]) -> Drained | None:
    """Scaling out: two processes splitting one MQTT 5 shared subscription."""
    shared_topic = f"{run.prefix}/shared/ruuvitag/data"
    pair = [
        AdapterProcess(
            {
                **env,
                "ADAPTER_MQTT_TOPICS": f"$share/{run.prefix}/{shared_topic}",
                "ADAPTER_MQTT_CLIENT_ID": f"bench-adapter-{run.suffix}-{n}",
                "ADAPTER_METRICS_PORT": str(free_port()),
            },
            run.workdir / f"adapter-{n}.log",
        )
        for n in (1, 2)
    ]
    run.started.extend(pair)
    if not all(a.wait_connected() for a in pair):
        print("the shared-subscription adapters did not connect", file=sys.stderr)
        return None
    return drain_rate(pair, run.cfg.mqtt_port, shared_topic, run.lines, MESSAGES)


def _with_tls(run: _Run, env: dict[str, str], plain_rate: float, kafka: bool = False) -> int:
    """The cost of security: the same run with the publisher and the adapter on MQTT's TLS
    listener (both log in with a password either way: the broker refuses anonymous clients);
    with ``kafka`` the adapter also writes to Kafka's SASL_SSL listener as its own principal."""
    cafile = tls_dir(run.cfg.state_dir) / "ca.pem"
    secure = {
        **env,
        "MQTT_TLS_ENABLED": "true",
        "MQTT_CA_FILE": str(cafile),
        "MQTT_BROKER_PORT": str(run.cfg.mqtt_tls_port),
        "ADAPTER_MQTT_CLIENT_ID": f"bench-adapter-tls-{run.suffix}-{int(kafka)}",
        **(client_env(run.cfg, ADAPTER) if kafka else {}),
    }
    adapter = AdapterProcess(secure, run.workdir / f"adapter-tls-{int(kafka)}.log")
    run.started.append(adapter)
    if not adapter.wait_connected():
        print("the adapter did not connect to the TLS listener", file=sys.stderr)
        return 1
    drained = drain_rate(
        [adapter], run.cfg.mqtt_tls_port, run.data_topic, run.lines, MESSAGES, cafile
    )
    adapter.stop()
    if drained is None:
        return 1
    on = "MQTT over TLS (8883)" + (" and Kafka SASL_SSL/SCRAM (29392)" if kafka else "")
    print(
        f"security on/off, adapter: {drained.rate:,.0f} msg/s with {on} vs "
        f"{plain_rate:,.0f} msg/s without TLS (1883{', Kafka PLAINTEXT' if kafka else ''}), "
        f"password + ACL on both: {drained.rate / plain_rate:.2f}x"
    )
    return 0


def _measure(run: _Run) -> int:
    port = run.cfg.mqtt_port
    run.lines.write_text("".join(message(i) + "\n" for i in range(MESSAGES)))
    env = _environment(run)
    adapter = AdapterProcess(env, run.workdir / "adapter.log")
    run.started.append(adapter)
    ref, arrived, ref_cpu = reference_rate(port, run.lines, MESSAGES)
    print(
        f"reference: mosquitto_pub -> Mosquitto -> paho subscriber, QoS 1: {ref:,.0f} msg/s "
        f"({arrived:,} of {MESSAGES:,} arrived; paho used {ref_cpu / arrived * 1e6:,.0f} us "
        "of CPU per message)"
    )
    if not adapter.wait_connected():
        print("the adapter did not connect to MQTT", file=sys.stderr)
        return 1
    drained = drain_rate([adapter], port, run.data_topic, run.lines, MESSAGES)
    if drained is None:
        return 1
    _report_throughput(drained, ref)
    _report_costs(run.cfg, run.topic, run.dlq, ref_cpu / arrived * 1e6)
    _latency(adapter, port, run.data_topic, run.suffix)
    adapter.stop()
    if _with_tls(run, env, drained.rate) != 0 or _with_tls(run, env, drained.rate, True) != 0:
        return 1
    shared = _shared_subscription(run, env)
    if shared is None:
        return 1
    split = " + ".join(f"{n:,.0f}" for n in shared.per_adapter)
    print(
        f"two adapter processes on a shared subscription: {shared.rate:,.0f} msg/s "
        f"({split} messages; {shared.rate / drained.rate:.2f}x one process on this 2-core machine)"
    )
    return 0


def run() -> int:
    cfg = stack()
    topic = create_topic(cfg.kafka_bootstrap, "bench-adapter")
    dlq = create_topic(cfg.kafka_bootstrap, "bench-adapter-dlq", partitions=1)
    workdir = Path(tempfile.mkdtemp(prefix="bench-adapter-"))
    this = _Run(cfg, topic, dlq, uuid.uuid4().hex[:8], workdir)
    try:
        return _measure(this)
    finally:
        for process in this.started:
            process.stop()
        for name in (topic, dlq, f"{topic}-alerts"):
            with contextlib.suppress(Exception):
                delete_topic(cfg.kafka_bootstrap, name)
