"""Configuration of the alert rules, and the mapping of device types onto sensor kinds.

Two naming schemes reach the consumer: the simulator's seed-design types (``temperature``,
``humidity``, ``pressure``, ``motion``, ``light``) and the RuuviTag adapter's per-sensor types
(``temperature_sensor``, ``humidity_sensor``, ``pressure_sensor``, ``battery_sensor``, ...).
Both map onto one *kind* (``temperature``, ...), and values are normalised to the kind's
canonical unit (°C, %, Pa, V) so one set of limits serves both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from iot_pipeline.alerts.model import Severity

# Kind -> canonical unit; readings in another known unit are converted (see normalise_value).
CANONICAL_UNITS: Mapping[str, str] = {
    "temperature": "°C",
    "humidity": "%",
    "pressure": "Pa",
    "battery": "V",
    "co2": "ppm",
    "pm2_5": "µg/m³",
}

_UNIT_FACTORS: Mapping[tuple[str, str], float] = {
    ("pressure", "hpa"): 100.0,
    ("pressure", "mbar"): 100.0,
    ("pressure", "kpa"): 1000.0,
    ("battery", "mv"): 0.001,
}


def device_kind(device_type: str) -> str:
    """``temperature_sensor`` and ``temperature`` are both kind ``temperature``."""
    kind = device_type.strip().lower()
    if kind.endswith("_sensor"):
        kind = kind[: -len("_sensor")]
    return kind


def normalise_value(kind: str, value: float, unit: str) -> tuple[float, str]:
    """Convert ``value`` to the kind's canonical unit where the unit is a known alternative."""
    canonical = CANONICAL_UNITS.get(kind)
    if canonical is None:
        return value, unit
    u = unit.strip().lower()
    if kind == "temperature" and u in {"°f", "f", "degf", "fahrenheit"}:
        return (value - 32.0) * 5.0 / 9.0, canonical
    if kind == "temperature" and u in {"k", "kelvin"}:
        return value - 273.15, canonical
    factor = _UNIT_FACTORS.get((kind, u))
    if factor is not None:
        return value * factor, canonical
    return value, unit or canonical


@dataclass(frozen=True, slots=True)
class KindRules:
    """Per-kind limits, in the kind's canonical unit. ``None`` switches a check off."""

    low: float | None = None
    high: float | None = None
    # Hysteresis: a threshold alert clears only once the value is back inside by this margin.
    hysteresis: float = 0.0
    threshold_severity: Severity = Severity.CRITICAL
    max_rate_per_hour: float | None = None
    stuck_readings: int | None = None
    statistical: bool = True
    # Floor under the rolling standard deviation, so a very quiet signal does not alert on noise.
    min_std: float = 1e-6
    # Sustained level: the mean of the readings of the last ``sustained_window_ms`` above
    # ``sustained_high`` breaches (clears at or below sustained_high - hysteresis). Judged only
    # once the readings span ``sustained_min_coverage`` of the window; kept as per-minute sums.
    sustained_high: float | None = None
    sustained_window_ms: int = 900_000
    sustained_min_coverage: float = 0.75
    sustained_severity: Severity = Severity.WARNING


def default_kinds() -> dict[str, KindRules]:
    """Seed-design thresholds (temperature -50..50 °C, humidity 15..100 %, pressure
    87,000..108,500 Pa, battery above 2.0 V) plus rate, stuck and statistical settings."""
    return {
        "temperature": KindRules(
            low=-50.0,
            high=50.0,
            hysteresis=1.0,
            max_rate_per_hour=20.0,
            stuck_readings=60,
            min_std=0.05,
        ),
        "humidity": KindRules(
            low=15.0,
            high=100.0,
            hysteresis=2.0,
            max_rate_per_hour=40.0,
            stuck_readings=60,
            min_std=0.2,
        ),
        "pressure": KindRules(
            low=87_000.0,
            high=108_500.0,
            hysteresis=200.0,
            # 20 hPa/h: far beyond weather (a storm front is ~3 hPa/h); a sensor or enclosure fault
            max_rate_per_hour=2000.0,
            stuck_readings=None,  # integer Pa: a still day legitimately repeats values
            min_std=5.0,
        ),
        "battery": KindRules(
            low=2.0,
            hysteresis=0.05,
            threshold_severity=Severity.WARNING,
            statistical=False,  # falls slowly and steps with load: not a useful signal
            min_std=0.01,
        ),
        **air_quality_kinds(),
        # Sensors whose values are legitimately constant or jumpy: silence rule only.
        "tx_power": KindRules(statistical=False),
        "movement_counter": KindRules(statistical=False),
        "acceleration_x": KindRules(statistical=False),
        "acceleration_y": KindRules(statistical=False),
        "acceleration_z": KindRules(statistical=False),
        "motion": KindRules(statistical=False),
    }


def air_quality_kinds() -> dict[str, KindRules]:
    """Indoor air quality (Ruuvi Air), defaults from published guidance:

    * CO2 (ppm): a mean above 1,000 ppm over 15 minutes (the long-standing ventilation guideline,
      Pettenkofer's 1,000 ppm, used by ASHRAE 62.1 and the German UBA as "needs airing"); above
      5,000 ppm at any moment (the 8-hour occupational exposure limit, OSHA / EU) is critical.
    * PM2.5 (µg/m³): a 24-hour mean above 15 µg/m³ (WHO 2021 air quality guideline, 24-hour);
      short spikes above 55 µg/m³ (the boundary of "very poor" in Ruuvi's IAQS, and of
      "unhealthy" in the US EPA AQI, 55.5).
    Occupancy makes both jump legitimately: no rate, stuck or statistical rule on them. Other
    Ruuvi Air values (PM1/4/10, VOC/NOx indexes, illuminance) and the derived ones get the
    silence rule only.
    """
    quiet = KindRules(statistical=False)
    return {
        "co2": KindRules(
            high=5000.0,
            hysteresis=100.0,
            sustained_high=1000.0,
            sustained_window_ms=15 * 60_000,
            statistical=False,
        ),
        "pm2_5": KindRules(
            high=55.0,
            hysteresis=2.0,
            threshold_severity=Severity.WARNING,
            sustained_high=15.0,
            sustained_window_ms=24 * 3_600_000,
            statistical=False,
        ),
        **{
            kind: quiet
            for kind in (
                "pm1_0",
                "pm4_0",
                "pm10_0",
                "voc_index",
                "nox_index",
                "illuminance",
                "dew_point",
                "absolute_humidity",
                "air_quality_index",
            )
        },
    }


def kind_rules_problems(rules: KindRules) -> list[str]:
    """What is inconsistent in one kind's rules (empty when they are usable)."""
    problems = []
    if rules.low is not None and rules.high is not None and rules.low >= rules.high:
        problems.append("low must be below high")
    if rules.hysteresis < 0:
        problems.append("hysteresis must be >= 0")
    if rules.stuck_readings is not None and rules.stuck_readings < 2:
        problems.append("stuck_readings must be >= 2")
    if rules.sustained_window_ms < 60_000 or not 0 < rules.sustained_min_coverage <= 1:
        problems.append("need sustained_window_ms >= 60000, coverage in (0, 1]")
    return problems


@dataclass(frozen=True, slots=True)
class RulesConfig:
    """Everything the rules engine is tuned by; built from Settings in the service."""

    kinds: Mapping[str, KindRules] = field(default_factory=default_kinds)
    # Used for kinds not listed in ``kinds`` (e.g. the simulator's ``light``).
    default_kind: KindRules = field(default_factory=KindRules)
    # Consecutive clear evaluations before a threshold/rate/statistical/lost-packet alert resolves.
    clear_after: int = 3
    # Rate of change: least-squares slope over the readings of the last rate_window_ms.
    rate_window_ms: int = 300_000
    # Extrapolating a short span to "per hour" amplifies noise: require half the window.
    rate_min_span_ms: int = 150_000
    rate_min_points: int = 5
    rate_clear_ratio: float = 0.8
    rate_max_points: int = 512
    # Silence: no reading arrived for this long (checked on the timer tick).
    silence_timeout_ms: int = 120_000
    # A device unseen for this long has its windows dropped (open alerts are kept).
    forget_after_ms: int = 7 * 24 * 3_600_000
    # Statistical rule: rolling z-score over the last ``zscore_window`` values.
    zscore_window: int = 60
    zscore_warmup: int = 20
    zscore_fire: float = 5.0
    zscore_clear: float = 2.5
    # Lost packets (RuuviTag measurement_sequence): loss rate over the last lost_window packets.
    lost_window: int = 100
    lost_min_expected: int = 20
    lost_fire_rate: float = 0.2
    lost_clear_rate: float = 0.1
    # Kinds whose readings feed the per-tag sequence tracking. One sensor per tag suffices (every
    # sensor of an advertisement carries the same number), and with one, a tag's loss is judged
    # by the single consumer that owns that sensor's partition: no duplicate alerts across a
    # scaled-out group.
    lost_packets_kinds: frozenset[str] = frozenset({"temperature"})
    # A forward jump larger than this (or a backward step) is a tag restart, not a loss.
    seq_restart_gap: int = 1000
    # A backward step of at most this many is a late duplicate from another gateway: ignored.
    seq_reorder_tolerance: int = 16

    def __post_init__(self) -> None:
        problems = []
        if self.clear_after < 1:
            problems.append("clear_after must be >= 1")
        if self.zscore_warmup < 2 or self.zscore_window < self.zscore_warmup:
            problems.append("need 2 <= zscore_warmup <= zscore_window")
        if not 0 < self.zscore_clear <= self.zscore_fire:
            problems.append("need 0 < zscore_clear <= zscore_fire")
        if not 0 <= self.lost_clear_rate <= self.lost_fire_rate < 1:
            problems.append("need 0 <= lost_clear_rate <= lost_fire_rate < 1")
        if not 0 < self.rate_clear_ratio <= 1:
            problems.append("need 0 < rate_clear_ratio <= 1")
        if self.rate_min_points < 2 or self.rate_max_points < self.rate_min_points:
            problems.append("need 2 <= rate_min_points <= rate_max_points")
        if self.silence_timeout_ms <= 0 or self.rate_window_ms <= 0:
            problems.append("silence_timeout_ms and rate_window_ms must be positive")
        if not 0 < self.seq_reorder_tolerance < self.seq_restart_gap < 32768:
            problems.append("need 0 < seq_reorder_tolerance < seq_restart_gap < 32768")
        for kind, rules in self.kinds.items():
            problems.extend(f"{kind}: {problem}" for problem in kind_rules_problems(rules))
        if problems:
            raise ValueError("invalid alert rules configuration: " + "; ".join(problems))

    def for_kind(self, kind: str) -> KindRules:
        return self.kinds.get(kind, self.default_kind)

    def with_kind_overrides(self, overrides: Mapping[str, Mapping[str, Any]]) -> RulesConfig:
        """A copy with per-kind fields replaced, e.g. ``{"temperature": {"high": 8.0}}``."""
        kinds = dict(self.kinds)
        for kind, fields in overrides.items():
            base = kinds.get(device_kind(kind), self.default_kind)
            values = dict(fields)
            for name in ("threshold_severity", "sustained_severity"):
                if name in values:
                    values[name] = Severity(values[name])
            try:
                kinds[device_kind(kind)] = replace(base, **values)
            except TypeError as exc:
                raise ValueError(f"invalid alert rule override for {kind!r}: {exc}") from exc
        return replace(self, kinds=kinds)
