"""The project next to Telegraf, the tool users would pick instead, on the same stack and data.

(a) MQTT -> Kafka: N official-Ruuvi-Gateway messages (topic ``ruuvi/<gw>/<tag>``, QoS 1) queued
    in Mosquitto for a persistent session while its consumer is offline, then drained: by
    Telegraf (inputs.mqtt_consumer -> outputs.kafka, JSON, acks=all) and by the adapter (validate,
    nine Avro records a reading, acknowledged after Kafka confirmed them; with
    BENCH_PEERS_DERIVED_VALUES=true also the derived dew point and absolute humidity: eleven).
    Rate = messages from the first record in Kafka to the last. Telegraf drains before and after
    the adapter(s); ratios are to the mean of its two rates. BENCH_PEERS_BASELINE=<checkout>
    also drains the same messages with another version's adapter (e.g. ``git archive main``
    unpacked), in the same run; BENCH_PEERS_SHARED=2 also drains them with two adapter processes
    on an MQTT 5 shared subscription (each its own persistent session: Mosquitto queues each
    message for one of them).
(b) Kafka -> PostgreSQL: one Avro topic of 100,000 readings drained by Telegraf
    (inputs.kafka_consumer + Avro parser + registry -> outputs.postgresql, a table it creates) and
    by the sink (the hypertable with its indexes, exactly once), each into its own fresh schema,
    next to a raw COPY of the same rows. Rate = rows from the first stored row to the last.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from confluent_kafka import Consumer, TopicPartition

from bench.adapter_process import REPO, AdapterProcess, bench_login, free_port, publish_lines
from bench.common import create_topic, delete_topic, stack
from bench.gateway_messages import GATEWAY, TAG, gateway_message
from bench.peers_drain import Drain, _Run, watch
from bench.peers_storage import storage_part
from bench.peers_telegraf import (
    TelegrafProcess,
    mqtt_to_kafka_config,
    telegraf_binary,
)
from iot_pipeline.adapter.transform import DEFAULT_THRESHOLDS, reading_records
from iot_pipeline.adapter.validation import TagReading, parse_message

MESSAGES = int(os.environ.get("BENCH_PEERS_MESSAGES", "40000"))
DERIVED_VALUES = os.environ.get("BENCH_PEERS_DERIVED_VALUES", "false").lower() == "true"
BASELINE = os.environ.get("BENCH_PEERS_BASELINE")
SHARED = int(os.environ.get("BENCH_PEERS_SHARED", "1"))


def records_per_message() -> int:
    """The Kafka records the adapter makes of one of the bench's messages (with its settings)."""
    topic = f"bench/ruuvi/{GATEWAY}/{TAG}"
    now = datetime.now(UTC)
    reading = parse_message(topic, gateway_message(0, int(now.timestamp())).encode(), now)
    assert isinstance(reading, TagReading), reading
    return len(reading_records(reading, DEFAULT_THRESHOLDS, derived=DERIVED_VALUES).sensors)


def kafka_records(consumer: Consumer, topic: str, partitions: int = 6) -> int:
    """Records on ``topic`` so far (the sum of its partitions' high watermarks)."""
    return sum(
        consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
        for p in range(partitions)
    )


def _queue(run: _Run, prefix: str, start: Callable[[], Callable[[], None]]) -> None:
    """Open the consumer's persistent session (start it, let it subscribe, stop it), then queue
    the messages in Mosquitto for it."""
    stop = start()
    stop()
    lines = run.workdir / "gateway.jsonl"
    if not lines.exists():
        now = int(datetime.now(UTC).timestamp())
        lines.write_text("".join(gateway_message(i, now) + "\n" for i in range(MESSAGES)))
    publish_lines(run.cfg.mqtt_port, f"{prefix}/ruuvi/{GATEWAY}/{TAG}", lines)  # type: ignore[attr-defined]


def _forget_session(port: int, client_id: str) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    client.username_pw_set(*bench_login())
    with contextlib.suppress(Exception):
        client.connect("127.0.0.1", port)
        client.loop_start()
        time.sleep(0.5)
        client.disconnect()
        client.loop_stop()


def _consumer(bootstrap: str) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-peers-{uuid.uuid4()}"})


def telegraf_mqtt(run: _Run, label: str = "tg") -> Drain:
    cfg = run.cfg
    bootstrap: str = cfg.kafka_bootstrap  # type: ignore[attr-defined]
    topic = create_topic(bootstrap, "bench-peers-telegraf")
    run.later(lambda: delete_topic(bootstrap, topic))
    prefix, client_id = f"bench-{label}-{run.suffix}", f"bench-telegraf-{label}-{run.suffix}"
    config = mqtt_to_kafka_config(
        cfg.mqtt_port,
        f"{prefix}/ruuvi/+/+",
        client_id,
        bootstrap.split(","),
        topic,  # type: ignore[attr-defined]
    )
    path = run.workdir / f"telegraf-mqtt-{label}.conf"
    path.write_text(config)
    if label == "tg":
        print(f"Telegraf configuration (a):\n{config}", flush=True)
    run.later(lambda: _forget_session(cfg.mqtt_port, client_id))  # type: ignore[attr-defined]

    def start() -> Callable[[], None]:
        process = TelegrafProcess(
            run.telegraf, path, run.workdir / f"telegraf-mqtt-{label}-0.log"
        ).start()
        deadline = time.monotonic() + 60
        while not process.logged("Connected") and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
        return process.stop

    _queue(run, prefix, start)
    process = TelegrafProcess(
        run.telegraf, path, run.workdir / f"telegraf-mqtt-{label}.log"
    ).start()
    run.later(process.stop)
    consumer = _consumer(bootstrap)
    try:
        return watch(
            lambda: kafka_records(consumer, topic), MESSAGES, process.running, process.cpu_seconds
        )
    finally:
        process.stop()
        consumer.close()


def _adapter_env(run: _Run, topic: str, dlq: str, topics: str) -> dict[str, str]:
    cfg = run.cfg
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": cfg.kafka_bootstrap,  # type: ignore[attr-defined]
        "SCHEMA_REGISTRY_URL": cfg.registry_url,  # type: ignore[attr-defined]
        "KAFKA_TOPIC_NAME": topic,
        "KAFKA_DLQ_TOPIC_NAME": dlq,
        "KAFKA_ALERTS_TOPIC_NAME": f"{topic}-alerts",
        "MQTT_BROKER_HOST": "127.0.0.1",
        "MQTT_BROKER_PORT": str(cfg.mqtt_port),  # type: ignore[attr-defined]
        "MQTT_USERNAME": bench_login()[0],
        "MQTT_PASSWORD": bench_login()[1],
        "ADAPTER_MQTT_TOPICS": topics,
        "ADAPTER_MQTT_SESSION_EXPIRY_SEC": "60",
        "ADAPTER_DERIVED_VALUES": str(DERIVED_VALUES).lower(),
        "LOG_LEVEL": "WARNING",
    }


def adapter_mqtt(
    run: _Run, root: Path = REPO, label: str = "ad", processes: int = 1
) -> tuple[Drain, list[float]]:
    """The adapter of checkout ``root`` drains its queued messages; with ``processes`` > 1,
    that many adapter processes share one MQTT 5 shared subscription ($share/...), each with its
    persistent session (Mosquitto queues each message for one of them). Returns the drain and
    the messages each process received."""
    bootstrap: str = run.cfg.kafka_bootstrap  # type: ignore[attr-defined]
    topic = create_topic(bootstrap, f"bench-peers-{label}")
    dlq = create_topic(bootstrap, f"bench-peers-{label}-dlq", partitions=1)
    for name in (topic, dlq, f"{topic}-alerts"):
        run.later(lambda name=name: delete_topic(bootstrap, name))  # type: ignore[misc]
    prefix = f"bench-{label}-{run.suffix}"
    topics = f"{prefix}/ruuvi/+/+"
    if processes > 1:
        topics = f"$share/{prefix}/{topics}"
    env = _adapter_env(run, topic, dlq, topics)

    def start_all(name: str) -> list[AdapterProcess]:
        started = []
        for n in range(processes):
            adapter = AdapterProcess(
                {
                    **env,
                    "ADAPTER_MQTT_CLIENT_ID": f"bench-{label}-peers-{run.suffix}-{n}",
                    "ADAPTER_METRICS_PORT": str(free_port()),
                },
                run.workdir / f"{label}-{name}-{n}.log",
                root=root,
            )
            run.later(adapter.stop)
            started.append(adapter)
        return started

    def subscribe() -> Callable[[], None]:
        adapters = start_all("subscribe")
        for adapter in adapters:
            adapter.wait_connected()

        def stop() -> None:
            for adapter in adapters:
                adapter.stop()

        return stop

    _queue(run, prefix, subscribe)
    adapters = start_all("drain")
    consumer = _consumer(bootstrap)

    def cpu() -> float | None:
        used = [adapter.cpu_seconds() for adapter in adapters]
        return None if None in used else sum(u for u in used if u is not None)

    try:
        drained = watch(
            lambda: kafka_records(consumer, topic),
            records_per_message() * MESSAGES,
            lambda: all(adapter.proc.poll() is None for adapter in adapters),
            cpu,
        )
        key = "mqtt_adapter_messages_received_total"
        return drained, [adapter.metrics().get(key, 0.0) for adapter in adapters]
    finally:
        for adapter in adapters:
            adapter.stop()
        consumer.close()


def _print_mqtt(telegraf: list[Drain], adapters: list[tuple[str, Drain, list[float]]]) -> None:
    """Telegraf ran before and after the adapters: the ratios are to the mean of its two rates,
    so load that rises or falls during the run weighs on both sides alike."""
    rates = [t.rate(MESSAGES) for t in telegraf]
    t_rate = sum(rates) / len(rates)
    per = records_per_message()
    print(
        f"(a) {MESSAGES:,} queued official-gateway messages, QoS 1, persistent session; the "
        f"adapter makes {per} records a message (derived values "
        f"{'on' if DERIVED_VALUES else 'off'}); load average at the end "
        f"{os.getloadavg()[0]:.1f}:"
    )
    for when, drain in zip(("before", "after"), telegraf, strict=False):
        rate = drain.rate(MESSAGES)
        print(
            f"  {'Telegraf (' + when + ' the adapters):':<32} {rate:>9,.0f} msg/s, {rate:>9,.0f} "
            f"Kafka records/s ({drain.count:,} records){_cpu(drain, MESSAGES)}"
        )
    for name, adapter, received in adapters:
        a_rate = adapter.rate(MESSAGES)
        print(
            f"  {name + ':':<32} {a_rate:>9,.0f} msg/s, {per * a_rate:>9,.0f} Kafka "
            f"records/s ({adapter.count:,} records, "
            f"{' + '.join(f'{r:,.0f}' for r in received)} messages received)"
            f"{_cpu(adapter, MESSAGES)}"
        )
    for name, adapter, _ in adapters:
        ratio = adapter.rate(MESSAGES) / t_rate
        verdict = "meets" if ratio >= 0.5 else "BELOW"
        print(
            f"  {name} / Telegraf (mean {t_rate:,.0f} msg/s): {ratio:.2f}x msg/s "
            f"({verdict} the 0.5x target)"
        )


def _cpu(drain: Drain, units: int) -> str:
    if drain.cpu is None:
        return ""
    return f", {drain.cpu / units * 1e6:,.0f} us CPU per message"


def mqtt_part(run: _Run) -> None:
    telegraf = [telegraf_mqtt(run)]
    adapters = [("adapter", *adapter_mqtt(run))]
    if SHARED > 1:
        name = f"{SHARED} adapters, $share"
        adapters.append((name, *adapter_mqtt(run, label="sh", processes=SHARED)))
    if BASELINE:
        baseline = Path(BASELINE).resolve()
        adapters.append((f"adapter of {baseline}", *adapter_mqtt(run, baseline, "base")))
    telegraf.append(telegraf_mqtt(run, "tg2"))
    _print_mqtt(telegraf, adapters)


def run() -> int:
    cfg = stack()
    workdir = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    this = _Run(cfg, uuid.uuid4().hex[:8], workdir, telegraf_binary(), [])
    print(f"Telegraf: {this.telegraf} (logs and configurations in {workdir})", flush=True)
    parts = os.environ.get("BENCH_PEERS_PARTS", "mqtt,storage").split(",")
    try:
        if "mqtt" in parts:
            mqtt_part(this)
        if "storage" in parts:
            storage_part(this)
    finally:
        for action in reversed(this.cleanup):
            with contextlib.suppress(Exception):
                action()
    return 0


if __name__ == "__main__":
    sys.exit(run())
