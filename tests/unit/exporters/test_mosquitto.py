"""Pure mapping of Mosquitto $SYS messages to Prometheus samples, and the exporter's state."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from iot_pipeline.exporters.mosquitto import (
    STALE_AFTER_S,
    Sample,
    SysCollector,
    SysState,
    parse_sys_message,
)


@pytest.mark.parametrize(
    ("topic", "payload", "name", "kind", "value", "labels"),
    [
        (
            "$SYS/broker/messages/received",
            b"3556",
            "mosquitto_messages_received",
            "counter",
            3556.0,
            (),
        ),
        (
            "$SYS/broker/publish/messages/dropped",
            b"7",
            "mosquitto_publish_messages_dropped",
            "counter",
            7.0,
            (),
        ),
        ("$SYS/broker/bytes/sent", b"1348516", "mosquitto_bytes_sent", "counter", 1348516.0, ()),
        ("$SYS/broker/clients/connected", b"4", "mosquitto_clients_connected", "gauge", 4.0, ()),
        ("$SYS/broker/clients/active", b"5", "mosquitto_clients_connected", "gauge", 5.0, ()),
        ("$SYS/broker/clients/inactive", b"3", "mosquitto_clients_disconnected", "gauge", 3.0, ()),
        (
            "$SYS/broker/retained messages/count",
            b"46",
            "mosquitto_retained_messages",
            "gauge",
            46.0,
            (),
        ),
        ("$SYS/broker/subscriptions/count", b"12", "mosquitto_subscriptions", "gauge", 12.0, ()),
        ("$SYS/broker/heap/current", b"76024", "mosquitto_heap_bytes", "gauge", 76024.0, ()),
        ("$SYS/broker/uptime", b"132 seconds", "mosquitto_uptime_seconds", "gauge", 132.0, ()),
        (
            "$SYS/broker/load/messages/received/1min",
            b"2452.00",
            "mosquitto_load_messages_received_per_minute",
            "gauge",
            2452.0,
            (("window", "1min"),),
        ),
        (
            "$SYS/broker/load/sockets/15min",
            b"1.49",
            "mosquitto_load_sockets_per_minute",
            "gauge",
            1.49,
            (("window", "15min"),),
        ),
    ],
)
def test_numeric_topics(
    topic: str,
    payload: bytes,
    name: str,
    kind: str,
    value: float,
    labels: tuple[tuple[str, str], ...],
) -> None:
    sample = parse_sys_message(topic, payload)
    assert sample is not None
    assert (sample.name, sample.kind, sample.value, sample.labels) == (name, kind, value, labels)


def test_version_becomes_an_info_label() -> None:
    sample = parse_sys_message("$SYS/broker/version", b"mosquitto version 2.0.11")
    assert sample == Sample(
        "mosquitto_broker", "info", "Broker version.", "2.0.11", (("version", "2.0.11"),)
    )


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        ("sensors/temp", b"12"),  # not $SYS
        ("$SYS/broker/unknown/thing", b"1"),  # not exported
        ("$SYS/broker/load/messages/received/2min", b"1"),  # unknown window
        ("$SYS/broker/clients/connected", b"many"),  # not a number
        ("$SYS/broker/clients/connected", b""),
        ("$SYS/broker/uptime", b"\xff\xfe"),  # not UTF-8
        ("$SYS/broker/version", b"   "),
    ],
)
def test_other_or_malformed_messages_are_ignored(topic: str, payload: bytes) -> None:
    assert parse_sys_message(topic, payload) is None


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_up_needs_a_connection_and_fresh_messages() -> None:
    clock = FakeClock()
    state = SysState(clock)
    assert not state.up()
    state.set_connected(True)
    assert not state.up()  # connected, but nothing received yet
    state.update("$SYS/broker/uptime", b"10 seconds")
    assert state.up()
    clock.now += STALE_AFTER_S + 1
    assert not state.up()  # the broker stopped publishing
    state.update("$SYS/broker/uptime", b"80 seconds")
    assert state.up()
    state.set_connected(False)
    assert not state.up()


def test_state_keeps_the_latest_value_and_counts_ignored_messages() -> None:
    state = SysState(FakeClock())
    assert state.update("$SYS/broker/clients/connected", b"4")
    assert state.update("$SYS/broker/clients/connected", b"6")
    assert not state.update("$SYS/broker/whatever", b"1")
    assert state.ignored == 1
    assert [(s.name, s.value) for s in state.samples()] == [("mosquitto_clients_connected", 6.0)]


def test_a_new_version_replaces_the_old_one() -> None:
    state = SysState(FakeClock())
    state.update("$SYS/broker/version", b"mosquitto version 2.0.11")
    state.update("$SYS/broker/version", b"mosquitto version 2.0.18")
    assert [s.value for s in state.samples()] == ["2.0.18"]


def test_collector_exposes_valid_prometheus_text() -> None:
    clock = FakeClock()
    state = SysState(clock)
    state.set_connected(True)
    for topic, payload in [
        ("$SYS/broker/version", b"mosquitto version 2.0.11"),
        ("$SYS/broker/messages/received", b"3556"),
        ("$SYS/broker/clients/connected", b"4"),
        ("$SYS/broker/load/messages/received/1min", b"2452.00"),
        ("$SYS/broker/load/messages/received/5min", b"656.75"),
    ]:
        state.update(topic, payload)
    registry = CollectorRegistry()
    registry.register(SysCollector(state))
    text = generate_latest(registry).decode()
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert values[("mosquitto_broker_up", ())] == 1.0
    assert values[("mosquitto_messages_received_total", ())] == 3556.0
    assert values[("mosquitto_clients_connected", ())] == 4.0
    assert values[("mosquitto_broker_info", (("version", "2.0.11"),))] == 1.0
    load = "mosquitto_load_messages_received_per_minute"
    assert values[(load, (("window", "1min"),))] == 2452.0
    assert values[(load, (("window", "5min"),))] == 656.75


def test_collector_reports_down_without_a_broker() -> None:
    registry = CollectorRegistry()
    registry.register(SysCollector(SysState(FakeClock())))
    assert registry.get_sample_value("mosquitto_broker_up") == 0.0
