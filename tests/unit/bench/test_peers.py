"""The peers bench's pure parts: its messages are valid official-gateway readings the adapter
accepts, the drain is timed from the first arrival, and Telegraf's configurations say what the
README says."""

from __future__ import annotations

from datetime import UTC, datetime

from bench.gateway_messages import GATEWAY, TAG, gateway_message
from bench.peers_drain import watch
from bench.peers_telegraf import kafka_to_postgres_config, mqtt_to_kafka_config
from iot_pipeline.adapter.validation import SourceFormat, TagReading, parse_message


def test_gateway_messages_are_valid_official_gateway_readings() -> None:
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    for sequence in (0, 1, 40_000):
        payload = gateway_message(sequence, int(now.timestamp())).encode()
        result = parse_message(f"bench/ruuvi/{GATEWAY}/{TAG}", payload, now)
        assert isinstance(result, TagReading), result
        assert result.source is SourceFormat.RUUVI_GATEWAY
        assert result.tag_mac == TAG
        assert result.values.measurement_sequence == sequence % 65535


def test_watch_times_from_the_first_arrival_to_the_last() -> None:
    counts = iter([0, 0, 100, 200, 300, 300])
    seen = watch(lambda: next(counts), 300, lambda: True, lambda: None)
    assert seen.count == 300
    assert seen.elapsed > 0


def test_telegraf_configurations_are_durable_and_batched() -> None:
    mqtt = mqtt_to_kafka_config(1883, "p/ruuvi/+/+", "cid", ["b1:9092", "b2:9092"], "out")
    assert "qos = 1" in mqtt and "persistent_session = true" in mqtt
    assert "required_acks = -1" in mqtt and "max_undelivered_messages" in mqtt
    pg = kafka_to_postgres_config(["b:9092"], "t", "g", "http://r", "dsn", "s", 5000)
    assert 'data_format = "avro"' in pg and "metric_batch_size = 5000" in pg
    assert 'offset = "oldest"' in pg


def test_the_drain_waits_for_every_record_the_adapter_makes(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The bench's expected count is what the adapter makes of its message: nine records with
    derived values off, eleven with them on (a Format 5 tag adds dew point and absolute
    humidity)."""
    import bench.peers as peers

    monkeypatch.setattr(peers, "DERIVED_VALUES", False)
    assert peers.records_per_message() == 9
    monkeypatch.setattr(peers, "DERIVED_VALUES", True)
    assert peers.records_per_message() == 11


def test_telegraf_logs_in_with_the_login_from_its_environment() -> None:
    mqtt = mqtt_to_kafka_config(1883, "p/ruuvi/+/+", "cid", ["b1:9092"], "out")
    assert 'username = "${BENCH_MQTT_USERNAME}"' in mqtt
    assert 'password = "${BENCH_MQTT_PASSWORD}"' in mqtt
