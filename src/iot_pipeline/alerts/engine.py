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
from iot_pipeline.alerts.state import (
    DeviceState,
    OpenAlert,
    TagState,
    dump_state,
    load_state,
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
        events: list[AlertEvent] = []
        state = self.devices.get(reading.device_id)
        if state is not None and _is_old_copy(state, reading):
            # Late or duplicate copy: it proves the device is alive, but is not a new sample.
            state.last_arrival_ms = max(state.last_arrival_ms, now_ms)
            self._resolve_silence(reading.device_id, now_ms, events)
            return events
        state = self._track(state, reading, kind, value, unit, now_ms)
        # Silence is about arrival, so its end is stamped (and replay-checked) in arrival time.
        self._resolve_silence(reading.device_id, now_ms, events)
        self._evaluate(reading, state, value, events)
        if (
            reading.measurement_sequence is not None
            and reading.measurement_sequence < reading.sequence_modulus
            and kind in self.config.lost_packets_kinds
        ):
            self._on_sequence(reading, now_ms, events)
        return events

    def _track(
        self,
        state: DeviceState | None,
        reading: Reading,
        kind: str,
        value: float,
        unit: str,
        now_ms: int,
    ) -> DeviceState:
        """The device's state, created on its first reading or advanced by this one."""
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
            return state
        state.repeat_count = state.repeat_count + 1 if value == state.last_value else 1
        state.last_value = value
        state.last_arrival_ms = max(state.last_arrival_ms, now_ms)
        state.last_ts_ms = reading.timestamp_ms
        state.last_seq = reading.measurement_sequence
        state.device_type, state.kind, state.unit = reading.device_type, kind, unit
        return state

    def _evaluate(
        self, reading: Reading, state: DeviceState, value: float, events: list[AlertEvent]
    ) -> None:
        """Every value rule of the device's kind, on a new sample."""
        rules = self.config.for_kind(state.kind)
        ts = reading.timestamp_ms

        def apply(rule: Rule, check: r.Check, severity: Severity) -> None:
            self._lifecycle(
                reading.device_id, state.device_type, state.unit, rule, severity, check, ts, events
            )

        apply(Rule.THRESHOLD_HIGH, r.check_high(rules, value), rules.threshold_severity)
        apply(Rule.THRESHOLD_LOW, r.check_low(rules, value), rules.threshold_severity)
        if rules.sustained_high is not None:
            r.add_to_window(state.sustained, ts, value, rules.sustained_window_ms)
            check = r.check_sustained(rules, state.sustained, ts)
            apply(Rule.SUSTAINED_HIGH, check, rules.sustained_severity)

        points = state.rate_points
        points.append((ts, value))
        while points and points[0][0] < ts - self.config.rate_window_ms:
            points.popleft()
        check = r.check_rate(rules, self.config, points)
        apply(Rule.RATE_OF_CHANGE, check, RULE_SEVERITY[Rule.RATE_OF_CHANGE])
        check = r.check_stuck(rules, state.repeat_count, value)
        apply(Rule.STUCK, check, RULE_SEVERITY[Rule.STUCK])

        stat = r.check_statistical(rules, self.config, state.stat_window, value)
        apply(Rule.STATISTICAL, stat, RULE_SEVERITY[Rule.STATISTICAL])
        if stat.band_low is not None and stat.band_high is not None:
            # Winsorise: an outlier enters the baseline clipped to the band, so one spike
            # cannot inflate the spread, while a lasting level shift is still learned.
            state.stat_window.append(min(max(value, stat.band_low), stat.band_high))
        elif rules.statistical:
            state.stat_window.append(value)

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
        return dump_state(self.devices, self.tags, self.open_alerts, self.logged_until_ms)

    @classmethod
    def from_snapshot(cls, config: RulesConfig, data: dict[str, Any]) -> AlertEngine:
        devices, tags, open_alerts, logged_until_ms = load_state(config, data)
        return cls(config, devices, tags, open_alerts, logged_until_ms)


def _is_old_copy(state: DeviceState, reading: Reading) -> bool:
    """A reading no newer than the device's last, or a second copy of its last sample."""
    return reading.timestamp_ms <= state.last_ts_ms or (
        reading.measurement_sequence is not None and reading.measurement_sequence == state.last_seq
    )


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
