"""The adapter's pipeline with a fake record sink (pure logic, no Kafka/MQTT): an MQTT message is
acknowledged only after every record made from it (or its dead letter) is confirmed; failures are
retried; duplicates ride on the original's acknowledgement."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from prometheus_client import CollectorRegistry

from iot_pipeline.adapter.options import AdapterOptions
from iot_pipeline.adapter.pipeline import Adapter, AdapterMetrics
from iot_pipeline.adapter.transform import DEFAULT_THRESHOLDS
from tests.unit.adapter.fakes import RECEIVED, Clock, FakeSink
from tests.unit.adapter.fakes import msg as _msg

VECTORS_DIR = Path(__file__).parents[2] / "vectors"
FIRMWARE = json.loads((VECTORS_DIR / "esp32_gateway_message.json").read_text(encoding="utf-8"))
GW_DATA = "0201061BFF99040517037758C5C703FCFF30FFF89416B7958AE375CF374E23"

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


def test_a_readings_records_go_in_one_batch_and_a_failed_batch_is_retried_whole() -> None:
    adapter, sink, acks, clock, registry = _setup()
    sink.raise_on_batch = 1  # e.g. the producer refused the call: nothing was enqueued
    adapter.handle(_msg(FIRMWARE["payload"], mid=5))
    assert sink.sent == []
    assert adapter.retries_waiting == 9
    clock.now += 2
    assert adapter.retry_failed() == 9
    assert len(sink.sent) == 9
    sink.deliver()
    assert acks == [(5, 1)]
    assert _metric(registry, "mqtt_adapter_kafka_delivery_failures_total") == 9


def test_records_refused_inside_a_batch_are_retried_alone_and_ack_waits_for_them() -> None:
    adapter, sink, acks, clock, _registry = _setup()
    sink.refuse_in_batch = {2, 7}
    adapter.handle(_msg(FIRMWARE["payload"], mid=6))
    assert len(sink.sent) == 7
    refused_keys = set()
    sink.deliver()
    assert acks == []  # two records still missing
    clock.now += 2
    assert adapter.retry_failed() == 2
    refused_keys = {item["key"] for item in sink.sent[7:]}
    assert len(refused_keys) == 2
    assert refused_keys.isdisjoint(item["key"] for item in sink.sent[:7])
    sink.deliver()
    assert acks == [(6, 1)]


# --- formats 3, 6 and E1 -----------------------------------------------------------------------

BY_FORMAT = FIRMWARE["payloads_by_format"]
AIR_TAG = "CB:B8:33:4C:88:4F"


def _setup_with(**options: object) -> Setup:
    sink = FakeSink()
    registry = CollectorRegistry()
    acks: list[tuple[int, int]] = []
    clock = Clock()
    adapter = Adapter(
        sink,
        "dlq",
        lambda mid, qos: acks.append((mid, qos)),
        AdapterOptions(thresholds=DEFAULT_THRESHOLDS, **options),  # type: ignore[arg-type]
        AdapterMetrics(registry),
        clock=clock,
    )
    return adapter, sink, acks, clock, registry


def _keys(sink: FakeSink) -> list[str]:
    return [s["key"].decode().split("_", 1)[1] for s in sink.sent if s["topic"] == "readings"]


def test_every_format_is_published_none_dead_lettered() -> None:
    adapter, sink, acks, _, registry = _setup()
    for mid, key in enumerate(("3", "6", "E1"), start=1):
        adapter.handle(_msg(BY_FORMAT[key], mid=mid))
    # Format 6 came first for the Air tag, so it is kept; E1 then supersedes it.
    assert "co2" in _keys(sink) and "pm10_0" in _keys(sink) and "battery" in _keys(sink)
    assert [s for s in sink.sent if s["topic"] == "dlq"] == []
    sink.deliver()
    assert sorted(acks) == [(1, 1), (2, 1), (3, 1)]
    assert _metric(registry, "mqtt_adapter_readings_total", {"source": "esp32_firmware"}) == 3


def test_format6_of_a_tag_heard_in_e1_is_dropped_and_counted() -> None:
    adapter, sink, acks, clock, registry = _setup()
    adapter.handle(_msg(BY_FORMAT["E1"], mid=1))
    published = len(sink.sent)
    adapter.handle(_msg(BY_FORMAT["6"], mid=2))
    assert len(sink.sent) == published  # nothing from Format 6
    assert acks == [(2, 1)]  # acknowledged at once, not dead-lettered
    assert _metric(registry, "mqtt_adapter_format6_dropped_total") == 1
    clock.now += 61  # E1 silent longer than the hold time: Format 6 is the tag's data again
    adapter.handle(_msg(BY_FORMAT["6"], mid=3))
    assert len(sink.sent) > published


def test_format6_of_another_tag_is_kept() -> None:
    adapter, sink, _, _, registry = _setup()
    adapter.handle(_msg(BY_FORMAT["E1"], mid=1))
    other = dict(BY_FORMAT["6"], mac="00:00:00:4C:88:4F")  # same low half, another tag
    before = len(sink.sent)
    adapter.handle(_msg(other, mid=2))
    assert len(sink.sent) > before
    assert _metric(registry, "mqtt_adapter_format6_dropped_total") == 0


def test_e1_duplicates_are_found_by_the_24_bit_sequence() -> None:
    adapter, sink, acks, _, registry = _setup()
    adapter.handle(_msg(BY_FORMAT["E1"], mid=1))
    count = len(sink.sent)
    adapter.handle(_msg(dict(BY_FORMAT["E1"], gateway_id="esp32-gw-02"), mid=2))
    assert len(sink.sent) == count
    assert _metric(registry, "mqtt_adapter_duplicates_total") == 1
    # The same low 16 bits in another measurement is not a duplicate.
    from iot_pipeline.ruuvi import formate1

    decoded = formate1.decode_hex(BY_FORMAT["E1"]["raw"])
    seq = decoded.measurement_sequence
    assert seq is not None
    later = replace(decoded, measurement_sequence=seq + 0x10000)
    adapter.handle(
        _msg(
            dict(BY_FORMAT["E1"], raw=formate1.encode_hex(later), measurement_sequence=seq + 65536),
            mid=3,
        )
    )
    assert len(sink.sent) == 2 * count
    sink.deliver()
    assert sorted(acks) == [(1, 1), (2, 1), (3, 1)]


def test_format3_duplicates_are_the_same_payload_from_another_gateway() -> None:
    adapter, sink, _, _, registry = _setup()
    adapter.handle(_msg(BY_FORMAT["3"], mid=1))
    count = len(sink.sent)
    adapter.handle(_msg(dict(BY_FORMAT["3"], gateway_id="esp32-gw-02"), mid=2))
    assert len(sink.sent) == count
    assert _metric(registry, "mqtt_adapter_duplicates_total") == 1
    wetter = "032A1A1ECE1EFC18F94202CA0B53"  # humidity byte changed: a new measurement
    adapter.handle(_msg(dict(BY_FORMAT["3"], raw=wetter, humidity=21.0), mid=3))
    assert len(sink.sent) == 2 * count


def test_the_same_format3_payload_through_the_official_gateway_is_a_duplicate() -> None:
    adapter, _sink, _, _, registry = _setup()
    adapter.handle(_msg(BY_FORMAT["3"], mid=1))
    advertisement = "02010611FF9904" + BY_FORMAT["3"]["raw"]
    gateway = {"gw_mac": "C8:25:2D:8E:9C:2C", "data": advertisement}
    adapter.handle(_msg(gateway, mid=2, topic=f"ruuvi/C8:25:2D:8E:9C:2C/{AIR_TAG}"))
    assert _metric(registry, "mqtt_adapter_duplicates_total") == 1


def test_derived_records_only_when_switched_on() -> None:
    adapter, sink, _, _, _ = _setup_with(derived_values=True)
    adapter.handle(_msg(BY_FORMAT["E1"], mid=1))
    assert {"dew_point", "absolute_humidity", "air_quality_index"} <= set(_keys(sink))
    adapter, sink, _, _, _ = _setup()
    adapter.handle(_msg(BY_FORMAT["E1"], mid=1))
    assert not {"dew_point", "absolute_humidity", "air_quality_index"} & set(_keys(sink))


def test_malformed_air_payload_is_dead_lettered_and_the_next_one_published() -> None:
    adapter, sink, acks, _, registry = _setup()
    adapter.handle(_msg(dict(BY_FORMAT["E1"], raw=BY_FORMAT["E1"]["raw"][:-2]), mid=1))
    (letter,) = sink.sent
    assert letter["topic"] == "dlq"
    headers = dict(letter["headers"])
    assert headers["reason"] == b"bad_raw_data"
    assert b"Format E1 payload has 40 bytes, got 39" in headers["error"]
    adapter.handle(_msg(BY_FORMAT["E1"], mid=2))
    assert len(sink.sent) > 1
    sink.deliver()
    assert acks == [(1, 1), (2, 1)]
    assert _metric(registry, "mqtt_adapter_dead_letters_total", {"reason": "bad_raw_data"}) == 1
