"""The sink as a real process over the real stack: Kafka (3 brokers), registry, PostgreSQL."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, TopicPartition

from devstack.pipeline import metric_samples
from iot_pipeline.kafka.config import client_config
from tests.e2e.sink.harness import (
    SinkEnv,
    SinkProcess,
    TcpRelay,
    dead_letters,
    produce,
    readings,
    wait_for,
)

pytestmark = pytest.mark.e2e

StartSink = Callable[[dict[str, str]], SinkProcess]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(port: int) -> dict[str, float]:
    """The sink's /metrics as {'name{labels}': value}."""
    return metric_samples(port, timeout=10)


def group_caught_up(env: SinkEnv, group: str) -> bool:
    consumer = Consumer(client_config(env.settings, {"group.id": group}))
    try:
        partitions = [TopicPartition(env.topic, p) for p in range(3)]
        committed = consumer.committed(partitions, timeout=10)
        for tp in committed:
            _, high = consumer.get_watermark_offsets(tp, timeout=10)
            if tp.offset < high:
                return False
        return True
    finally:
        consumer.close()


def test_stream_is_stored_once_poison_is_dead_lettered_and_replay_adds_nothing(
    sink_env: SinkEnv, start_sink: StartSink
) -> None:
    good = readings("e2e-once", 3000)
    empty_id = {**good[0], "device_id": ""}  # valid Avro, not a valid reading
    unknown_schema = b"\x00\x7f\xff\xff\xff" + b"\x02"  # framed, schema id not in the registry
    produce(sink_env, [*good, empty_id], raw=[b"not avro at all", unknown_schema])

    port = free_port()
    sink = start_sink(sink_env.env(SINK_METRICS_PORT=str(port)))
    wait_for(lambda: sink_env.count("e2e-once") == 3000, 90, "3000 stored readings")
    letters = dead_letters(sink_env, 3)
    reasons = sorted(dict(m.headers())["dlq.reason"].decode() for m in letters)
    assert reasons == ["deserialization", "deserialization", "invalid_reading"]
    assert {m.value() for m in letters} >= {b"not avro at all", unknown_schema}
    wait_for(lambda: group_caught_up(sink_env, sink_env.group), 30, "offsets committed")
    metrics = scrape(port)
    assert metrics["iot_messages_received_total"] == 3003
    assert metrics["iot_messages_processed_total"] == 3000
    assert metrics['iot_messages_failed_total{reason="deserialization"}'] == 2
    assert metrics['iot_messages_failed_total{reason="invalid_reading"}'] == 1
    assert metrics["iot_sink_rows_inserted_total"] == 3000
    assert metrics["iot_sink_paused"] == 0
    assert metrics["iot_processing_duration_seconds_count"] >= 1
    assert metrics["iot_sink_batch_size_count"] >= 6  # 3000 rows in batches of at most 500
    assert metrics["iot_sink_sensor_to_commit_seconds_count"] == 3000
    assert metrics["iot_sink_insert_duration_seconds_count"] >= 6
    edition = [k for k in metrics if k.startswith("iot_timescaledb_edition_info{")]
    assert len(edition) == 1 and 'aggregates="' in edition[0]
    assert sink.stop() == 0

    # Replay the whole topic with a fresh consumer group: nothing is added.
    replay_group = sink_env.group + "-replay"
    replay = start_sink(sink_env.env(SINK_CONSUMER_GROUP_ID=replay_group))
    wait_for(lambda: group_caught_up(sink_env, replay_group), 90, "replay committed")
    assert replay.stop() == 0
    assert sink_env.count("e2e-once") == 3000
    assert sink_env.distinct_keys() == sink_env.count()


def test_sigkill_in_the_middle_of_a_stream_loses_nothing(
    sink_env: SinkEnv, start_sink: StartSink
) -> None:
    total = 20000
    produce(sink_env, readings("e2e-kill", total, devices=20))
    env = sink_env.env(DATA_SINK_BATCH_SIZE="1000", DATA_SINK_COMMIT_INTERVAL="5")
    first = start_sink(env)
    wait_for(lambda: sink_env.count("e2e-kill") >= 1000, 90, "the first batches")
    first.kill()
    stored_at_kill = sink_env.count("e2e-kill")
    assert stored_at_kill < total, "the sink finished before it could be killed mid-stream"

    second = start_sink(env)
    wait_for(lambda: sink_env.count("e2e-kill") == total, 240, f"all {total} readings")
    wait_for(lambda: group_caught_up(sink_env, sink_env.group), 30, "offsets committed")
    assert second.stop() == 0
    assert sink_env.distinct_keys() == total


def test_database_outage_pauses_and_catches_up_by_itself(
    sink_env: SinkEnv, start_sink: StartSink, pg_relay: TcpRelay
) -> None:
    env = sink_env.env(POSTGRES_PORT=str(pg_relay.port))
    sink = start_sink(env)
    produce(sink_env, readings("e2e-outage-a", 1000))
    wait_for(lambda: sink_env.count("e2e-outage") == 1000, 90, "readings before the outage")

    pg_relay.cut()
    produce(sink_env, readings("e2e-outage-b", 2000))
    time.sleep(30)
    assert sink.proc.poll() is None, "the sink must survive the outage"
    assert sink_env.count("e2e-outage") == 1000
    log = sink.text()
    assert "database write failed" in log and "pausing consumption" in log

    pg_relay.open()
    wait_for(lambda: sink_env.count("e2e-outage") == 3000, 90, "catching up after the outage")
    assert "consumption resumed" in sink.text()
    assert sink.stop() == 0
    assert sink_env.distinct_keys() == 3000


def test_sigterm_writes_the_batch_in_hand(sink_env: SinkEnv, start_sink: StartSink) -> None:
    port = free_port()
    env = sink_env.env(
        SINK_METRICS_PORT=str(port),
        DATA_SINK_BATCH_SIZE="100000",
        DATA_SINK_COMMIT_INTERVAL="300",
        # Size-or-age batching only: the batch must still be in hand when SIGTERM arrives.
        DATA_SINK_WRITE_WHEN_CAUGHT_UP="false",
    )
    sink = start_sink(env)
    produce(sink_env, readings("e2e-term", 500))

    def received_all() -> bool:
        try:
            return scrape(port).get("iot_messages_received_total") == 500
        except OSError:
            return False

    wait_for(received_all, 90, "the sink to hold all 500 readings")
    assert sink_env.count("e2e-term") == 0, "nothing is due before 300 s or 100000 rows"
    assert sink.stop() == 0
    assert sink_env.count("e2e-term") == 500
    assert group_caught_up(sink_env, sink_env.group)
