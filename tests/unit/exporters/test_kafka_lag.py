"""Pure parts of the consumer-lag exporter: which groups, what lag, what is exposed."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry

from iot_pipeline.exporters.kafka_lag import (
    DEFAULT_GROUPS,
    LagCollector,
    build_snapshot,
    compute_lag,
    select_groups,
)

ALWAYS = re.compile(DEFAULT_GROUPS)


def test_active_groups_and_the_pipelines_own_groups_are_selected() -> None:
    listed = [
        ("iot-timescaledb-sink", "EMPTY"),  # stopped sink: its lag must stay visible
        ("iot-data-consumer", "STABLE"),
        ("test-sink-1234", "STABLE"),
        ("test-sink-old", "EMPTY"),  # a finished test's group
        ("rebalancing", "PREPARING_REBALANCING"),
        ("completing", "COMPLETING_REBALANCING"),
        ("gone", "DEAD"),
        ("iot-timescaledb-sink-x", "EMPTY"),  # the pattern must match the whole id
    ]
    assert select_groups(listed, ALWAYS) == [
        "completing",
        "iot-data-consumer",
        "iot-timescaledb-sink",
        "rebalancing",
        "test-sink-1234",
    ]


def test_lag_is_high_watermark_minus_committed() -> None:
    committed = {("t", 0): 500, ("t", 1): 100, ("t", 2): -1001, ("gone", 0): 5, ("t", 3): 90}
    high = {("t", 0): 1700, ("t", 1): 100, ("t", 2): 50, ("t", 3): 80}
    # no committed offset (-1001 = OFFSET_INVALID) or no watermark: no figure; never negative
    assert compute_lag(committed, high) == {("t", 0): 1200, ("t", 1): 0, ("t", 3): 0}


def _values(collector: LagCollector) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(collector)
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        for s in family.samples
    }


def test_collector_exposes_the_snapshot() -> None:
    collector = LagCollector()
    snapshot = build_snapshot(
        {"iot-timescaledb-sink": (0, {("iot-sensor-data", 0): 40, ("iot-sensor-data", 1): 7})},
        {("iot-sensor-data", 0): 100, ("iot-sensor-data", 1): 7},
        now=1_700_000_000.0,
        duration_s=0.05,
    )
    collector.publish(snapshot)
    v = _values(collector)
    g = ("consumergroup", "iot-timescaledb-sink")
    assert v[("kafka_lag_exporter_up", ())] == 1.0
    assert v[("kafka_lag_exporter_last_success_timestamp_seconds", ())] == 1_700_000_000.0
    assert (
        v[("kafka_consumergroup_lag", (g, ("partition", "0"), ("topic", "iot-sensor-data")))] == 60
    )
    assert (
        v[("kafka_consumergroup_lag", (g, ("partition", "1"), ("topic", "iot-sensor-data")))] == 0
    )
    key = (
        "kafka_consumergroup_current_offset",
        (g, ("partition", "0"), ("topic", "iot-sensor-data")),
    )
    assert v[key] == 40
    assert v[("kafka_consumergroup_members", (g,))] == 0
    hw = (
        "kafka_topic_partition_current_offset",
        (("partition", "0"), ("topic", "iot-sensor-data")),
    )
    assert v[hw] == 100


def test_a_failed_poll_keeps_the_last_figures_and_reports_down() -> None:
    collector = LagCollector()
    assert _values(collector) == {("kafka_lag_exporter_up", ()): 0.0}  # before the first poll
    collector.publish(build_snapshot({"g": (1, {("t", 0): 1})}, {("t", 0): 3}, 5.0, 0.1))
    collector.failed()
    v = _values(collector)
    assert v[("kafka_lag_exporter_up", ())] == 0.0
    assert v[("kafka_lag_exporter_last_success_timestamp_seconds", ())] == 5.0
    assert (
        v[("kafka_consumergroup_lag", (("consumergroup", "g"), ("partition", "0"), ("topic", "t")))]
        == 2
    )
