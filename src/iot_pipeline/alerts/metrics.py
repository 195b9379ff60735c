"""Prometheus metrics of the alert consumer (built on the registry main() passes in)."""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import CollectorRegistry, Counter, Gauge

from iot_pipeline.alerts.model import AlertEvent, EventType, Rule, Severity
from iot_pipeline.stream import EMPTY_VALUE, NullObserver


class AlertMetrics(NullObserver):
    """The alert consumer's metrics; also the consumer loop's observer, which counts records it
    could not evaluate under ``iot_alerts_processing_errors_total{reason}``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.fired = Counter(
            "iot_alerts_fired_total",
            "Alert events of type fired delivered to the alerts topic.",
            ["rule", "severity"],
            registry=registry,
        )
        self.resolved = Counter(
            "iot_alerts_resolved_total",
            "Alert events of type resolved delivered to the alerts topic.",
            ["rule", "severity"],
            registry=registry,
        )
        self.open = Gauge(
            "iot_alerts_open",
            "Alerts currently open (as known to this consumer instance).",
            ["rule", "severity"],
            registry=registry,
        )
        self.readings = Counter(
            "iot_alerts_readings_processed_total",
            "Readings evaluated by the rules.",
            registry=registry,
        )
        self.errors = Counter(
            "iot_alerts_processing_errors_total",
            "Messages or events that could not be processed, by reason.",
            ["reason"],
            registry=registry,
        )
        self.lag = Gauge(
            "iot_alerts_consumer_lag",
            "Readings not yet consumed per assigned partition (high watermark - position).",
            ["topic", "partition"],
            registry=registry,
        )
        self.restored = Counter(
            "iot_alerts_restored_events_total",
            "Alert events read back from the alerts topic to rebuild open alerts.",
            registry=registry,
        )
        for rule in Rule:
            for severity in Severity:
                self.open.labels(rule.value, severity.value).set(0)

    def delivered(self, event: AlertEvent) -> None:
        counter = self.fired if event.event_type is EventType.FIRED else self.resolved
        counter.labels(event.rule.value, event.severity.value).inc()

    def set_open(self, open_alerts: list[tuple[Rule, Severity]]) -> None:
        tally = Tally(open_alerts)
        for rule in Rule:
            for severity in Severity:
                self.open.labels(rule.value, severity.value).set(tally[(rule, severity)])

    def on_rejected(self, reason: str, detail: str) -> None:
        self.errors.labels("empty" if detail == EMPTY_VALUE else reason).inc()
