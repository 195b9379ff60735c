import pytest
from prometheus_client import CollectorRegistry

from iot_pipeline.alerts.metrics import AlertMetrics
from iot_pipeline.alerts.model import AlertEvent, EventType, Rule, Severity
from iot_pipeline.alerts.service import rules_config_from_settings
from iot_pipeline.config import SettingsError, load_settings


def test_rules_config_from_settings():
    settings = load_settings(
        alerts_silence_timeout=30,
        alerts_clear_after=2,
        alerts_rate_window=120,
        alerts_zscore_threshold=5,
        alerts_lost_packets_window=10,
        alerts_rule_overrides={"temperature_sensor": {"high": 8.0, "stuck_readings": 10}},
    )
    config = rules_config_from_settings(settings)
    assert config.silence_timeout_ms == 30_000
    assert config.clear_after == 2
    assert (config.rate_window_ms, config.rate_min_span_ms) == (120_000, 60_000)
    assert config.zscore_fire == 5.0
    assert (config.lost_window, config.lost_min_expected) == (10, 10)
    assert config.for_kind("temperature").high == 8.0
    assert config.for_kind("temperature").low == -50.0
    assert config.for_kind("temperature").stuck_readings == 10


def test_defaults_build_a_valid_config():
    config = rules_config_from_settings(load_settings())
    assert config.silence_timeout_ms == 120_000
    assert config.for_kind("pressure").low == 87_000.0


def test_bad_rule_overrides_are_reported():
    with pytest.raises(ValueError, match="temperature"):
        rules_config_from_settings(load_settings(alerts_rule_overrides={"temperature": {"x": 1}}))
    with pytest.raises(SettingsError, match="ALERTS_LOST_PACKETS_RATE"):
        load_settings(alerts_lost_packets_rate=1.5)


def event(kind, rule=Rule.STUCK, severity=Severity.WARNING):
    return AlertEvent(kind, "a", "d", "t", rule, severity, 1.0, 2.0, None, None, "", 0, 0, "")


def test_metrics_count_by_rule_and_severity():
    registry = CollectorRegistry()
    metrics = AlertMetrics(registry)
    metrics.delivered(event(EventType.FIRED))
    metrics.delivered(event(EventType.FIRED))
    metrics.delivered(event(EventType.RESOLVED))
    metrics.set_open([(Rule.SILENCE, Severity.CRITICAL)] * 3)
    sample = registry.get_sample_value
    labels = {"rule": "stuck", "severity": "warning"}
    assert sample("iot_alerts_fired_total", labels) == 2
    assert sample("iot_alerts_resolved_total", labels) == 1
    assert sample("iot_alerts_open", {"rule": "silence", "severity": "critical"}) == 3
    metrics.set_open([])
    assert sample("iot_alerts_open", {"rule": "silence", "severity": "critical"}) == 0


def test_publisher_waits_for_an_unreachable_registry_until_stopped():
    import threading

    from confluent_kafka.schema_registry import SchemaRegistryClient

    from iot_pipeline.alerts.service import create_publisher
    from iot_pipeline.retry import Backoff

    settings = load_settings(schema_registry_url="http://127.0.0.1:9")  # nothing listens there
    stop = threading.Event()
    timer = threading.Timer(0.5, stop.set)
    timer.start()
    client = SchemaRegistryClient({"url": settings.schema_registry_url})
    backoff = Backoff(initial=0.05, maximum=0.05)
    assert create_publisher(settings, client, CollectorRegistry(), stop, backoff) is None
    timer.cancel()
