"""The alert engine: per-device bounded state, rule evaluation and the alert lifecycle.

No I/O and no clock: callers pass readings and the current time in. Lifecycle rules:

* one open alert per (device, rule): a breach while open emits nothing;
* hysteresis: rules report ``HOLD`` between their fire and clear thresholds, which neither
  fires nor counts towards clearing; an open alert resolves after ``clear_after`` consecutive
  ``CLEAR`` evaluations (stuck and silence clear on the first, since the evidence is decisive);
* every ``fired`` event is eventually matched by one ``resolved`` event with the same alert id.

State is bounded (fixed-size windows per device, idle devices forgotten) and serialisable
(:meth:`AlertEngine.snapshot` / :meth:`AlertEngine.from_snapshot`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from iot_pipeline.alerts import rules as r
from iot_pipeline.alerts.config import RulesConfig, device_kind, normalise_value
from iot_pipeline.alerts.model import (
    AlertEvent,
    EventType,
    Reading,
    Rule,
    Severity,
    alert_id,
)

RULE_SEVERITY: dict[Rule, Severity] = {
    Rule.RATE_OF_CHANGE: Severity.WARNING,
    Rule.STUCK: Severity.WARNING,
    Rule.SILENCE: Severity.CRITICAL,
    Rule.LOST_PACKETS: Severity.WARNING,
    Rule.STATISTICAL: Severity.INFO,
}
# Rules that resolve on the first clear evaluation.
DECISIVE_CLEAR = frozenset({Rule.STUCK, Rule.SILENCE})
TAG_DEVICE_TYPE = "ruuvitag"


@dataclass(slots=True)
class OpenAlert:
    alert_id: str
    device_id: str
    device_type: str
    rule: Rule
    severity: Severity
    unit: str
    first_seen_ms: int
    value: float | None
    threshold: float | None
    band_low: float | None
    band_high: float | None
    clear_count: int = 0


@dataclass(slots=True)
class DeviceState:
    device_type: str
    kind: str
    unit: str
    last_arrival_ms: int
    last_ts_ms: int
    last_seq: int | None
    last_value: float
    repeat_count: int
    rate_points: deque[tuple[int, float]]
    stat_window: deque[float]
    # Sustained rule: [minute start ms, sum, count] of the readings in the kind's window.
    sustained: deque[list[float]] = field(default_factory=deque)


@dataclass(slots=True)
class TagState:
    last_seq: int
    lost_per_packet: deque[int]
    last_arrival_ms: int
    device_id: str  # the sensor device whose readings feed this tag's sequence


@dataclass(slots=True)
class AlertEngine:
    config: RulesConfig
    devices: dict[str, DeviceState] = field(default_factory=dict)
    tags: dict[str, TagState] = field(default_factory=dict)
    open_alerts: dict[tuple[str, Rule], OpenAlert] = field(default_factory=dict)
    # Event time of the last event known to be on the alerts log per (device, rule): a replayed
    # reading at or before it (re-delivered after a crash) must not open that alert again.
    logged_until_ms: dict[tuple[str, Rule], int] = field(default_factory=dict)

    # ------------------------------------------------------------------ readings
    def on_reading(self, reading: Reading, now_ms: int) -> list[AlertEvent]:
        """Evaluate one reading that arrived at ``now_ms``; returns the events it causes."""
        kind = device_kind(reading.device_type)
        value, unit = normalise_value(kind, reading.value, reading.unit)
        rules = self.config.for_kind(kind)
        events: list[AlertEvent] = []
        state = self.devices.get(reading.device_id)

        if state is not None and (
            reading.timestamp_ms <= state.last_ts_ms
            or (
                reading.measurement_sequence is not None
                and reading.measurement_sequence == state.last_seq
            )
        ):
            # Late or duplicate copy: it proves the device is alive, but is not a new sample.
            state.last_arrival_ms = max(state.last_arrival_ms, now_ms)
            self._resolve_silence(reading.device_id, now_ms, events)
            return events

        if state is None:
            state = DeviceState(
                device_type=reading.device_type,
                kind=kind,
                unit=unit,
                last_arrival_ms=now_ms,
                last_ts_ms=reading.timestamp_ms,
                last_seq=reading.measurement_sequence,
                last_value=value,
                repeat_count=1,
                rate_points=deque(maxlen=self.config.rate_max_points),
                stat_window=deque(maxlen=self.config.zscore_window),
            )
            self.devices[reading.device_id] = state
        else:
            state.repeat_count = state.repeat_count + 1 if value == state.last_value else 1
            state.last_value = value
            state.last_arrival_ms = max(state.last_arrival_ms, now_ms)
            state.last_ts_ms = reading.timestamp_ms
            state.last_seq = reading.measurement_sequence
            state.device_type, state.kind, state.unit = reading.device_type, kind, unit

        ts = reading.timestamp_ms
        # Silence is about arrival, so its end is stamped (and replay-checked) in arrival time.
        self._resolve_silence(reading.device_id, now_ms, events)

        def apply(rule: Rule, check: r.Check, severity: Severity) -> None:
            self._lifecycle(
                reading.device_id, state.device_type, unit, rule, severity, check, ts, events
            )

        apply(Rule.THRESHOLD_HIGH, r.check_high(rules, value), rules.threshold_severity)
        apply(Rule.THRESHOLD_LOW, r.check_low(rules, value), rules.threshold_severity)
        if rules.sustained_high is not None:
            r.add_to_window(state.sustained, ts, value, rules.sustained_window_ms)
            apply(
                Rule.SUSTAINED_HIGH,
                r.check_sustained(rules, state.sustained, ts),
                rules.sustained_severity,
            )

        points = state.rate_points
        points.append((ts, value))
        while points and points[0][0] < ts - self.config.rate_window_ms:
            points.popleft()
        apply(
            Rule.RATE_OF_CHANGE,
            r.check_rate(rules, self.config, points),
            RULE_SEVERITY[Rule.RATE_OF_CHANGE],
        )

        apply(
            Rule.STUCK, r.check_stuck(rules, state.repeat_count, value), RULE_SEVERITY[Rule.STUCK]
        )

        stat = r.check_statistical(rules, self.config, state.stat_window, value)
        apply(Rule.STATISTICAL, stat, RULE_SEVERITY[Rule.STATISTICAL])
        if stat.band_low is not None and stat.band_high is not None:
            # Winsorise: an outlier enters the baseline clipped to the band, so one spike
            # cannot inflate the spread, while a lasting level shift is still learned.
            state.stat_window.append(min(max(value, stat.band_low), stat.band_high))
        elif rules.statistical:
            state.stat_window.append(value)

        if (
            reading.measurement_sequence is not None
            and reading.measurement_sequence < reading.sequence_modulus
            and kind in self.config.lost_packets_kinds
        ):
            self._on_sequence(reading, now_ms, events)
        return events

    def _on_sequence(self, reading: Reading, now_ms: int, events: list[AlertEvent]) -> None:
        seq = reading.measurement_sequence
        assert seq is not None
        tag_id = (reading.tag_mac or reading.device_id).lower()
        tag = self.tags.get(tag_id)
        if tag is None:
            self.tags[tag_id] = TagState(
                seq, deque(maxlen=self.config.lost_window), now_ms, reading.device_id
            )
            return
        tag.last_arrival_ms = max(tag.last_arrival_ms, now_ms)
        step, lost = r.classify_sequence(self.config, tag.last_seq, seq, reading.sequence_modulus)
        if step is r.SeqStep.DUPLICATE:
            return
        tag.last_seq = seq
        if step is r.SeqStep.RESTART:
            tag.lost_per_packet.clear()
            return
        tag.lost_per_packet.append(lost)
        check = r.check_lost_packets(self.config, tag.lost_per_packet)
        self._lifecycle(
            tag_id,
            TAG_DEVICE_TYPE,
            "ratio",
            Rule.LOST_PACKETS,
            RULE_SEVERITY[Rule.LOST_PACKETS],
            check,
            reading.timestamp_ms,
            events,
        )

    def _resolve_silence(self, device_id: str, ts: int, events: list[AlertEvent]) -> None:
        key = (device_id, Rule.SILENCE)
        alert = self.open_alerts.get(key)
        if alert is not None and ts > self.logged_until_ms.get(key, -1):
            self._resolve(alert, None, ts, events)

    # ------------------------------------------------------------------ timer
    def on_tick(self, now_ms: int) -> list[AlertEvent]:
        """Timer evaluation: silence, and forgetting long-idle devices' windows."""
        events: list[AlertEvent] = []
        for device_id, state in sorted(self.devices.items()):
            check = r.check_silence(self.config, state.last_arrival_ms, now_ms)
            self._lifecycle(
                device_id,
                state.device_type,
                "s",
                Rule.SILENCE,
                RULE_SEVERITY[Rule.SILENCE],
                check,
                now_ms,
                events,
            )
        cutoff = now_ms - self.config.forget_after_ms
        for device_id in [d for d, s in self.devices.items() if s.last_arrival_ms < cutoff]:
            del self.devices[device_id]
        for tag_id in [t for t, s in self.tags.items() if s.last_arrival_ms < cutoff]:
            del self.tags[tag_id]
        return events

    # ------------------------------------------------------------------ lifecycle
    def _lifecycle(
        self,
        device_id: str,
        device_type: str,
        unit: str,
        rule: Rule,
        severity: Severity,
        check: r.Check,
        ts: int,
        events: list[AlertEvent],
    ) -> None:
        key = (device_id, rule)
        if ts <= self.logged_until_ms.get(key, -1):
            return  # a replayed reading, older than what the alerts log already records
        alert = self.open_alerts.get(key)
        if alert is None:
            if check.status is not r.Status.BREACH:
                return
            alert = OpenAlert(
                alert_id=alert_id(device_id, rule, ts),
                device_id=device_id,
                device_type=device_type,
                rule=rule,
                severity=severity,
                unit=unit,
                first_seen_ms=ts,
                value=check.value,
                threshold=check.threshold,
                band_low=check.band_low,
                band_high=check.band_high,
            )
            self.open_alerts[key] = alert
            events.append(self._event(alert, EventType.FIRED, check.value, ts))
            return
        if check.status in (r.Status.BREACH, r.Status.HOLD):
            alert.clear_count = 0
        elif check.status is r.Status.CLEAR:
            alert.clear_count += 1
            needed = 1 if rule in DECISIVE_CLEAR else self.config.clear_after
            if alert.clear_count >= needed:
                self._resolve(alert, check.value, ts, events)

    def _resolve(
        self, alert: OpenAlert, value: float | None, ts: int, events: list[AlertEvent]
    ) -> None:
        del self.open_alerts[(alert.device_id, alert.rule)]
        events.append(self._event(alert, EventType.RESOLVED, value, max(ts, alert.first_seen_ms)))

    @staticmethod
    def _event(alert: OpenAlert, kind: EventType, value: float | None, ts: int) -> AlertEvent:
        return AlertEvent(
            event_type=kind,
            alert_id=alert.alert_id,
            device_id=alert.device_id,
            device_type=alert.device_type,
            rule=alert.rule,
            severity=alert.severity,
            value=value,
            threshold=alert.threshold,
            band_low=alert.band_low,
            band_high=alert.band_high,
            unit=alert.unit,
            first_seen_ms=alert.first_seen_ms,
            event_time_ms=ts,
            message=describe(alert, kind, value),
        )

    # ------------------------------------------------------------------ restore / rebalance
    def restore(self, event: AlertEvent) -> None:
        """Apply an event read back from the alerts log (the last one per key wins)."""
        key = (event.device_id, event.rule)
        self.logged_until_ms[key] = max(self.logged_until_ms.get(key, -1), event.event_time_ms)
        if event.event_type is EventType.RESOLVED:
            self.open_alerts.pop(key, None)
            return
        current = self.open_alerts.get(key)
        if current is not None and current.alert_id == event.alert_id:
            return  # our own event read back: keep its clear count
        self.open_alerts[key] = OpenAlert(
            alert_id=event.alert_id,
            device_id=event.device_id,
            device_type=event.device_type,
            rule=event.rule,
            severity=event.severity,
            unit=event.unit,
            first_seen_ms=event.first_seen_ms,
            value=event.value,
            threshold=event.threshold,
            band_low=event.band_low,
            band_high=event.band_high,
        )

    def forget_devices(self, device_ids: Iterable[str]) -> None:
        """Drop windows of devices this instance no longer owns (partitions revoked).

        Their open alerts stay known, so if the device comes back here it does not re-fire.
        """
        gone = set(device_ids)
        for device_id in gone:
            self.devices.pop(device_id, None)
        for tag_id in [t for t, s in self.tags.items() if s.device_id in gone]:
            del self.tags[tag_id]

    # ------------------------------------------------------------------ serialisation
    def snapshot(self) -> dict[str, Any]:
        """JSON-compatible copy of the whole state (config excluded)."""
        return {
            "devices": {
                d: {
                    "device_type": s.device_type,
                    "kind": s.kind,
                    "unit": s.unit,
                    "last_arrival_ms": s.last_arrival_ms,
                    "last_ts_ms": s.last_ts_ms,
                    "last_seq": s.last_seq,
                    "last_value": s.last_value,
                    "repeat_count": s.repeat_count,
                    "rate_points": [list(p) for p in s.rate_points],
                    "stat_window": list(s.stat_window),
                    "sustained": [list(b) for b in s.sustained],
                }
                for d, s in self.devices.items()
            },
            "tags": {
                t: {
                    "last_seq": s.last_seq,
                    "lost_per_packet": list(s.lost_per_packet),
                    "last_arrival_ms": s.last_arrival_ms,
                    "device_id": s.device_id,
                }
                for t, s in self.tags.items()
            },
            "open_alerts": [
                {
                    "alert_id": a.alert_id,
                    "device_id": a.device_id,
                    "device_type": a.device_type,
                    "rule": a.rule.value,
                    "severity": a.severity.value,
                    "unit": a.unit,
                    "first_seen_ms": a.first_seen_ms,
                    "value": a.value,
                    "threshold": a.threshold,
                    "band_low": a.band_low,
                    "band_high": a.band_high,
                    "clear_count": a.clear_count,
                }
                for a in self.open_alerts.values()
            ],
            "logged_until_ms": [
                [d, rule.value, t] for (d, rule), t in self.logged_until_ms.items()
            ],
        }

    @classmethod
    def from_snapshot(cls, config: RulesConfig, data: dict[str, Any]) -> AlertEngine:
        engine = cls(config)
        for d, s in data["devices"].items():
            engine.devices[d] = DeviceState(
                device_type=s["device_type"],
                kind=s["kind"],
                unit=s["unit"],
                last_arrival_ms=s["last_arrival_ms"],
                last_ts_ms=s["last_ts_ms"],
                last_seq=s["last_seq"],
                last_value=s["last_value"],
                repeat_count=s["repeat_count"],
                rate_points=deque(
                    ((int(t), float(v)) for t, v in s["rate_points"]),
                    maxlen=config.rate_max_points,
                ),
                stat_window=deque(s["stat_window"], maxlen=config.zscore_window),
                # absent in snapshots taken before the sustained rule existed
                sustained=deque(list(b) for b in s.get("sustained", [])),
            )
        for t, s in data["tags"].items():
            engine.tags[t] = TagState(
                s["last_seq"],
                deque(s["lost_per_packet"], maxlen=config.lost_window),
                s["last_arrival_ms"],
                s["device_id"],
            )
        for a in data["open_alerts"]:
            alert = OpenAlert(**{**a, "rule": Rule(a["rule"]), "severity": Severity(a["severity"])})
            engine.open_alerts[(alert.device_id, alert.rule)] = alert
        for d, rule, t in data["logged_until_ms"]:
            engine.logged_until_ms[(d, Rule(rule))] = t
        return engine


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.6g}"


def describe(alert: OpenAlert, kind: EventType, value: float | None) -> str:
    """One human sentence for logs and notifications."""
    what = {
        Rule.THRESHOLD_HIGH: f"value {_fmt(value)} {alert.unit} above {_fmt(alert.threshold)}",
        Rule.THRESHOLD_LOW: f"value {_fmt(value)} {alert.unit} below {_fmt(alert.threshold)}",
        Rule.RATE_OF_CHANGE: (
            f"changing {_fmt(value)} {alert.unit}/h, limit {_fmt(alert.threshold)}"
        ),
        Rule.STUCK: f"value {_fmt(value)} repeated {_fmt(alert.threshold)} times",
        Rule.SILENCE: f"no reading for {_fmt(value)} s, timeout {_fmt(alert.threshold)} s",
        Rule.LOST_PACKETS: f"loss rate {_fmt(value)}, limit {_fmt(alert.threshold)}",
        Rule.SUSTAINED_HIGH: (
            f"mean {_fmt(value)} {alert.unit} over the window above {_fmt(alert.threshold)}"
        ),
        Rule.STATISTICAL: (
            f"value {_fmt(value)} outside band [{_fmt(alert.band_low)}, {_fmt(alert.band_high)}]"
        ),
    }[alert.rule]
    if kind is EventType.RESOLVED:
        now = "" if value is None else f": now {_fmt(value)}"
        return f"{alert.rule.value} resolved on {alert.device_id}{now}"
    return f"{alert.rule.value} on {alert.device_id}: {what}"
