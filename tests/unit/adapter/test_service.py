"""The adapter's acknowledgement bookkeeping, with a fake record sink (pure logic, no Kafka/MQTT):
an MQTT message is acknowledged only after every record made from it (or its dead letter) is
confirmed; failures are retried; duplicates ride on the original's acknowledgement."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from iot_pipeline.adapter.service import (
    Adapter,
    AdapterMetrics,
    AdapterOptions,
    Incoming,
    build_options,
    drain,
    run,
)
from iot_pipeline.adapter.transform import DEFAULT_THRESHOLDS
from iot_pipeline.config import SettingsError, load_settings

VECTORS_DIR = Path(__file__).parents[2] / "vectors"
FIRMWARE = json.loads((VECTORS_DIR / "esp32_gateway_message.json").read_text(encoding="utf-8"))
RECEIVED = datetime(2026, 11, 23, 13, 37, 1, tzinfo=UTC)
GW_DATA = "0201061BFF99040517037758C5C703FCFF30FFF89416B7958AE375CF374E23"


@dataclass
class FakeMessage:
    """What a delivery callback reads of confluent_kafka.Message."""

    _topic: str
    _key: bytes | None
    _value: bytes | None
    _headers: list[tuple[str, bytes]] | None

    def topic(self) -> str:
        return self._topic

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers


class FakeSink:
    """Records enqueue calls; the test decides when and how each delivery completes."""

    topic = "readings"

    def __init__(self, fail_serialize: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail_serialize = fail_serialize
        self.raise_on_produce = 0

    def serialize(self, value: Mapping[str, Any]) -> bytes:
        if self.fail_serialize:
            raise ValueError("does not fit the schema")
        return json.dumps(value, default=str).encode()

    def enqueue(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        on_delivery: Callable[[Any, Any], None],
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        if self.raise_on_produce:
            self.raise_on_produce -= 1
            raise RuntimeError("local queue unavailable")
        self.sent.append(
            {"topic": topic, "key": key, "value": value, "headers": headers, "cb": on_delivery}
        )

    def deliver(self, index: int | None = None, error: object = None) -> None:
        items = self.sent if index is None else [self.sent[index]]
        for item in items:
            if not item.get("done"):
                item["done"] = True
                message = FakeMessage(item["topic"], item["key"], item["value"], item["headers"])
                item["cb"](error, message)

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 30.0) -> int:
        self.deliver()
        return 0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


Setup = tuple[Adapter, FakeSink, list[tuple[int, int]], Clock, CollectorRegistry]


def _setup(sink: FakeSink | None = None) -> Setup:
    sink = sink or FakeSink()
    registry = CollectorRegistry()
    acks: list[tuple[int, int]] = []
    clock = Clock()
    adapter = Adapter(
        sink,
        "dlq",
        lambda mid, qos: acks.append((mid, qos)),
        AdapterOptions(thresholds=DEFAULT_THRESHOLDS),
        AdapterMetrics(registry),
        clock=clock,
    )
    return adapter, sink, acks, clock, registry


def _msg(payload: Any, mid: int = 1, topic: str = "ruuvitag/data", qos: int = 1) -> Incoming:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return Incoming(topic, raw, mid, qos, RECEIVED, 0.0)


def _metric(registry: CollectorRegistry, name: str, labels: dict[str, str] | None = None) -> float:
    value = registry.get_sample_value(name, labels or {})
    return 0.0 if value is None else value


def test_valid_reading_is_acknowledged_only_after_all_records_are_confirmed() -> None:
    adapter, sink, acks, _, registry = _setup()
    adapter.handle(_msg(FIRMWARE["payload"], mid=7))
    assert len(sink.sent) == 9
    assert {s["topic"] for s in sink.sent} == {"readings"}
    assert sink.sent[0]["key"] == b"cb:b8:33:4c:88:4f_temperature"
    assert adapter.in_flight == 1
    for i in range(8):
        sink.deliver(i)
        assert acks == []
    sink.deliver(8)
    assert acks == [(7, 1)]
    assert adapter.in_flight == 0
    assert _metric(registry, "mqtt_adapter_records_published_total") == 9
    assert _metric(registry, "mqtt_adapter_readings_total", {"source": "esp32_firmware"}) == 1
    assert _metric(registry, "mqtt_adapter_ruuvitag_devices_seen") == 1


def test_invalid_message_goes_to_the_dlq_with_headers_and_is_acknowledged_after() -> None:
    adapter, sink, acks, _, registry = _setup()
    adapter.handle(_msg(b"not json", mid=3))
    assert len(sink.sent) == 1
    sent = sink.sent[0]
    assert sent["topic"] == "dlq"
    assert sent["value"] == b"not json"
    assert sent["key"] == b"ruuvitag/data"
    headers = dict(sent["headers"])
    assert headers["reason"] == b"not_json"
    assert headers["mqtt_topic"] == b"ruuvitag/data"
    assert headers["received_at"] == RECEIVED.isoformat().encode()
    assert headers["error"]
    assert acks == []
    sink.deliver(0)
    assert acks == [(3, 1)]
    assert _metric(registry, "mqtt_adapter_dead_letters_total", {"reason": "not_json"}) == 1


def test_failed_delivery_is_retried_after_the_backoff_and_acknowledged_once() -> None:
    adapter, sink, acks, clock, registry = _setup()
    adapter.handle(_msg(FIRMWARE["payload"], mid=9))
    sink.deliver(0, error="broker down")
    for i in range(1, 9):
        sink.deliver(i)
    assert acks == []
    assert adapter.retries_waiting == 1
    assert adapter.retry_failed() == 0  # backoff not over
    clock.now += 1.0
    assert adapter.retry_failed() == 1
    assert sink.sent[-1]["key"] == sink.sent[0]["key"]
    assert sink.sent[-1]["value"] == sink.sent[0]["value"]
    sink.deliver(len(sink.sent) - 1)
    assert acks == [(9, 1)]
    assert _metric(registry, "mqtt_adapter_kafka_delivery_failures_total") == 1


def test_produce_exception_is_retried_like_a_failed_delivery() -> None:
    sink = FakeSink()
    adapter, sink, acks, clock, _registry = _setup(sink)
    sink.raise_on_produce = 1
    adapter.handle(_msg(b"[]", mid=4))
    assert sink.sent == []
    clock.now += 2
    adapter.retry_failed()
    sink.deliver()
    assert acks == [(4, 1)]


def test_duplicate_through_a_second_gateway_rides_on_the_original() -> None:
    adapter, sink, acks, _, registry = _setup()
    adapter.handle(_msg(FIRMWARE["payload"], mid=1))
    second = dict(FIRMWARE["payload"], gateway_id="esp32-gw-02", rssi=-80)
    adapter.handle(_msg(second, mid=2))
    assert len(sink.sent) == 9  # published once
    assert acks == []  # the copy waits for the original's confirmation
    sink.deliver()
    assert acks == [(1, 1), (2, 1)]
    adapter.handle(_msg(second, mid=3))  # original done: acknowledged at once
    assert acks[-1] == (3, 1)
    assert _metric(registry, "mqtt_adapter_duplicates_total") == 2


def test_same_sequence_after_the_window_is_published_again() -> None:
    adapter, sink, _, clock, _registry = _setup()
    adapter.handle(_msg(FIRMWARE["payload"], mid=1))
    clock.now += 11
    adapter.handle(_msg(FIRMWARE["payload"], mid=2))
    assert len(sink.sent) == 18


def test_gateway_status_updates_metrics_and_is_acknowledged() -> None:
    adapter, sink, acks, _, registry = _setup()
    online = FIRMWARE["status_payloads"]["online"]
    offline = FIRMWARE["status_payloads"]["offline"]
    adapter.handle(_msg(online, mid=1, topic=FIRMWARE["status_topic"]))
    adapter.handle(_msg({"state": "online"}, mid=2, topic="ruuvi/C8:25:2D:8E:9C:2C/gw_status"))
    assert _metric(registry, "mqtt_adapter_gateways_online") == 2
    adapter.handle(_msg(offline, mid=3, topic=FIRMWARE["status_topic"]))
    assert _metric(registry, "mqtt_adapter_gateways_online") == 1
    assert _metric(registry, "mqtt_adapter_gateway_status_messages_total", {"state": "online"}) == 2
    assert sink.sent == []
    assert acks == [(1, 1), (2, 1), (3, 1)]


def test_reading_with_every_value_unavailable_is_acknowledged_without_records() -> None:
    adapter, sink, acks, _, _registry = _setup()
    invalid = "058000FFFFFFFF800080008000FFFFFFFFFFFFFFFFFFFFFF"
    adapter.handle(_msg({"gateway_id": "gw", "mac": "CB:B8:33:4C:88:4F", "raw": invalid}, mid=5))
    assert sink.sent == []
    assert acks == [(5, 1)]


def test_a_processing_bug_sends_the_message_to_the_dlq() -> None:
    adapter, sink, acks, _, _registry = _setup(FakeSink(fail_serialize=True))
    adapter.handle(_msg(FIRMWARE["payload"], mid=6))
    assert [s["topic"] for s in sink.sent] == ["dlq"]
    assert dict(sink.sent[0]["headers"])["reason"] == b"internal_error"
    sink.deliver()
    assert acks == [(6, 1)]


def test_ruuvi_gateway_message_is_published() -> None:
    adapter, sink, acks, _, _registry = _setup()
    payload = {"gw_mac": "C8:25:2D:8E:9C:2C", "rssi": -26, "aoa": [], "data": GW_DATA}
    adapter.handle(_msg(payload, mid=8, topic="ruuvi/C8:25:2D:8E:9C:2C/E3:75:CF:37:4E:23"))
    assert len(sink.sent) == 9
    assert sink.sent[0]["key"] == b"e3:75:cf:37:4e:23_temperature"
    sink.deliver()
    assert acks == [(8, 1)]


def test_redelivery_of_a_message_still_in_flight_is_not_processed_twice() -> None:
    adapter, sink, acks, _, registry = _setup()
    adapter.handle(_msg(b"not json", mid=5))
    adapter.handle(_msg(FIRMWARE["payload"], mid=6))
    # Reconnected: the broker resends both unacknowledged messages with their packet ids.
    adapter.handle(_msg(b"not json", mid=5))
    adapter.handle(_msg(FIRMWARE["payload"], mid=6))
    assert len(sink.sent) == 10
    assert _metric(registry, "mqtt_adapter_redeliveries_total") == 2
    sink.deliver()
    assert acks == [(5, 1), (6, 1)]
    adapter.handle(_msg(b"not json", mid=5))  # acknowledged already: a new message, handled
    assert len(sink.sent) == 11


def test_qos0_messages_share_packet_id_zero_and_are_all_processed() -> None:
    adapter, sink, _acks, _, _registry = _setup()
    adapter.handle(_msg(b"not json", mid=0, qos=0))
    adapter.handle(_msg(b"not json", mid=0, qos=0))
    assert len(sink.sent) == 2


class FakeSource:
    """Hands queued messages to the adapter, ``batch`` per service() call."""

    def __init__(self, adapter: Adapter, messages: list[Incoming], batch: int) -> None:
        self.adapter = adapter
        self.messages = messages
        self.batch = batch
        self.connected = True
        self.timeouts: list[float] = []

    def service(self, timeout: float) -> int:
        self.timeouts.append(timeout)
        handed = self.messages[: self.batch]
        del self.messages[: self.batch]
        for message in handed:
            self.adapter.handle(message)
        return len(handed)


def test_run_loop_handles_messages_until_stopped_and_drain_confirms() -> None:
    acks: list[tuple[int, int]] = []
    stop = threading.Event()

    class StoppingSink(FakeSink):
        def poll(self, timeout: float = 0) -> int:
            if not source.messages:
                stop.set()
            return 0

    sink = StoppingSink()
    adapter = Adapter(
        sink,
        "dlq",
        lambda mid, qos: acks.append((mid, qos)),
        AdapterOptions(),
        AdapterMetrics(CollectorRegistry()),
    )
    source = FakeSource(adapter, [_msg(b"{}", mid=mid) for mid in range(1, 4)], batch=2)
    run(adapter, source, sink, stop)
    assert len(sink.sent) == 3
    assert acks == []
    assert source.timeouts == [0.05, 0.0]  # waits for MQTT only while nothing is in flight
    assert drain(adapter, sink, timeout=1) == 0
    assert sorted(acks) == [(1, 1), (2, 1), (3, 1)]


def test_encode_records_is_verified_against_the_serializer() -> None:
    import io

    import fastavro

    from iot_pipeline.adapter.service import records_encoder, sample_records
    from iot_pipeline.schemas import READING_SCHEMA_FILE, load_schema

    schema_str = load_schema(READING_SCHEMA_FILE)
    schema = fastavro.parse_schema(json.loads(schema_str))

    def serialize(record: Mapping[str, Any]) -> bytes:
        buffer = io.BytesIO(b"\x00\x00\x00\x00\x07")
        buffer.seek(5)
        fastavro.schemaless_writer(buffer, schema, dict(record))
        return buffer.getvalue()

    sample = sample_records()
    expected = [serialize(record) for record in sample.as_dicts()]
    assert records_encoder(serialize, schema_str)(sample) == expected

    def different(record: Mapping[str, Any]) -> bytes:
        return serialize(record) + b"!"

    assert records_encoder(different, schema_str)(sample) == [
        different(record) for record in sample.as_dicts()
    ]


def test_build_options_from_settings() -> None:
    options = build_options(load_settings(adapter_max_payload_bytes=1000))
    assert options.limits.max_payload_bytes == 1000
    assert options.thresholds["temperature"].high == 50.0
    assert options.thresholds["battery"].high is None


def test_build_options_rejects_unknown_sensors_and_battery_range() -> None:
    with pytest.raises(SettingsError, match="ADAPTER_ANOMALY_THRESHOLDS"):
        build_options(load_settings(adapter_anomaly_thresholds={"light": (0, 1)}))
    with pytest.raises(SettingsError, match="ADAPTER_BATTERY_FULL_VOLTS"):
        build_options(load_settings(adapter_battery_full_volts=1.9))


def test_topic_filters_come_from_a_comma_separated_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ADAPTER_MQTT_TOPICS", "$share/adapters/ruuvitag/data, ruuvi/+/+")
    assert load_settings().adapter_mqtt_topics == ["$share/adapters/ruuvitag/data", "ruuvi/+/+"]
