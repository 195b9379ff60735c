"""The chaos run's verdicts and tables (pure: no I/O)."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class FaultResult:
    """What one fault did to the steady stream."""

    fault: str
    published: int  # messages the broker acknowledged to the publisher during the window
    stored: int  # of those, stored (at least one row) by the end of the run
    lost: int  # acknowledged by the broker, never stored
    stored_twice: int  # readings stored more than once (same device, sequence, tag)
    alerts_repeated: int  # alert events (alert id, fired/resolved) emitted more than once
    recovery_s: float  # fault healed -> first row committed after it (NaN: none seen)
    alert: str  # the matching Prometheus alert, or "" when there is none
    alert_state: str  # firing / pending / not raised / n/a
    # Fault injected -> the first evaluation at which the alert's condition (its expression,
    # before its `for:`) held in Prometheus; NaN: never during the window.
    detected_s: float = math.nan
    alert_for_s: float = 0.0  # the alert's `for:`, as Prometheus loaded it

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.stored_twice == 0 and self.alerts_repeated == 0


def lost(acknowledged: Iterable[tuple[str, int]], stored: set[tuple[str, int]]) -> int:
    return sum(1 for key in acknowledged if key not in stored)


def repeated(events: Iterable[tuple[str, str]]) -> int:
    """Extra copies of (alert id, event type) pairs: each should be emitted exactly once."""
    return sum(count - 1 for count in Counter(events).values() if count > 1)


def alert_state(states: set[str]) -> str:
    """The highest state an alert reached during a window (from Prometheus' ALERTS)."""
    if "firing" in states:
        return "firing"
    if "pending" in states:
        return "pending"
    return "not raised"


def first_true_after(series: Sequence[dict[str, Any]], start: float) -> float:
    """Seconds from ``start`` to the earliest sample of a Prometheus range query's result (a
    condition such as ``up == 0`` returns samples only while it holds); NaN when none."""
    times = [
        float(point[0]) for one in series for point in one.get("values", [])
        if float(point[0]) >= start
    ]  # fmt: skip
    return min(times) - start if times else math.nan


def describe_alert(r: FaultResult) -> str:
    """The table's alert cell: when the condition was seen and the state the alert reached."""
    if not r.alert:
        return r.alert_state
    if math.isnan(r.detected_s):
        return f"{r.alert}: condition not seen, {r.alert_state}"
    waits = f"; fires after {r.alert_for_s:g} s" if r.alert_state == "pending" else ""
    return f"{r.alert}: condition seen after {r.detected_s:.0f} s, {r.alert_state}{waits}"


def _recovery(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds:.1f} s"


def markdown(results: Sequence[FaultResult]) -> str:
    lines = [
        "| fault | published | stored | lost | stored twice | alerts repeated | recovery "
        "| Prometheus alert |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        alert = describe_alert(r)
        lines.append(
            f"| {r.fault} | {r.published:,} | {r.stored:,} | {r.lost} | {r.stored_twice} "
            f"| {r.alerts_repeated} | {_recovery(r.recovery_s)} | {alert} |"
        )
    return "\n".join(lines)


def to_json(results: Sequence[FaultResult], extra: dict[str, object]) -> str:
    rows = [{**asdict(r), "ok": r.ok} for r in results]
    clean = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
             for row in rows]  # fmt: skip
    return json.dumps({**extra, "faults": clean}, indent=2)
