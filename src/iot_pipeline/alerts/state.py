"""The alert engine's state: open alerts, per-device windows, per-tag sequences, and their
JSON-compatible snapshot (what the alert consumer keeps so that a restart forgets nothing)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from iot_pipeline.alerts.config import RulesConfig
from iot_pipeline.alerts.model import Rule, Severity

Devices = dict[str, "DeviceState"]
Tags = dict[str, "TagState"]
OpenAlerts = dict[tuple[str, Rule], "OpenAlert"]
LoggedUntil = dict[tuple[str, Rule], int]


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


def dump_state(
    devices: Devices, tags: Tags, open_alerts: OpenAlerts, logged_until_ms: LoggedUntil
) -> dict[str, Any]:
    """JSON-compatible copy of the engine's state (config excluded)."""
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
            for d, s in devices.items()
        },
        "tags": {
            t: {
                "last_seq": s.last_seq,
                "lost_per_packet": list(s.lost_per_packet),
                "last_arrival_ms": s.last_arrival_ms,
                "device_id": s.device_id,
            }
            for t, s in tags.items()
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
            for a in open_alerts.values()
        ],
        "logged_until_ms": [[d, rule.value, t] for (d, rule), t in logged_until_ms.items()],
    }


def load_state(
    config: RulesConfig, data: dict[str, Any]
) -> tuple[Devices, Tags, OpenAlerts, LoggedUntil]:
    """The state :func:`dump_state` wrote, with window sizes from ``config``."""
    devices: dict[str, DeviceState] = {}
    tags: dict[str, TagState] = {}
    open_alerts: dict[tuple[str, Rule], OpenAlert] = {}
    logged_until_ms: dict[tuple[str, Rule], int] = {}
    for d, s in data["devices"].items():
        devices[d] = DeviceState(
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
        tags[t] = TagState(
            s["last_seq"],
            deque(s["lost_per_packet"], maxlen=config.lost_window),
            s["last_arrival_ms"],
            s["device_id"],
        )
    for a in data["open_alerts"]:
        alert = OpenAlert(**{**a, "rule": Rule(a["rule"]), "severity": Severity(a["severity"])})
        open_alerts[(alert.device_id, alert.rule)] = alert
    for d, rule, t in data["logged_until_ms"]:
        logged_until_ms[(d, Rule(rule))] = t
    return devices, tags, open_alerts, logged_until_ms
