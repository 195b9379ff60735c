"""The rules: pure functions of a device's recent state (and, for silence, the current time).

Each returns a :class:`Check` saying whether the condition is breached, clear, in the
hysteresis band between the two (``HOLD``), or not yet decidable (``UNKNOWN``, e.g. during
warm-up). The alert lifecycle (open/resolve, clear-after-N) lives in :mod:`engine`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from iot_pipeline.alerts.config import KindRules, RulesConfig

# measurement_sequence is a 16-bit field whose 65535 means "not available": the valid values
# 0..65534 wrap around, so 65534 -> 0 is the next packet. Ruuvi Air: E1's counter is 24 bits
# (0..16,777,214, 0xFFFFFF "not available"), Format 6's 8 bits (0..255, no sentinel); a reading
# carries its counter's modulus (model.Reading.sequence_modulus, from the record's data_format).
SEQ_MODULUS = 65535


class Status(Enum):
    BREACH = "breach"
    HOLD = "hold"
    CLEAR = "clear"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Check:
    status: Status
    value: float | None = None
    threshold: float | None = None
    band_low: float | None = None
    band_high: float | None = None


UNKNOWN = Check(Status.UNKNOWN)


def check_high(rules: KindRules, value: float) -> Check:
    """Above ``high`` breaches; clears only at or below ``high - hysteresis``."""
    if rules.high is None:
        return UNKNOWN
    if value > rules.high:
        status = Status.BREACH
    elif value <= rules.high - rules.hysteresis:
        status = Status.CLEAR
    else:
        status = Status.HOLD
    return Check(status, value, rules.high)


def check_low(rules: KindRules, value: float) -> Check:
    """Below ``low`` breaches; clears only at or above ``low + hysteresis``."""
    if rules.low is None:
        return UNKNOWN
    if value < rules.low:
        status = Status.BREACH
    elif value >= rules.low + rules.hysteresis:
        status = Status.CLEAR
    else:
        status = Status.HOLD
    return Check(status, value, rules.low)


def _median(sorted_values: Sequence[float]) -> float:
    n = len(sorted_values)
    mid = n // 2
    return sorted_values[mid] if n % 2 else (sorted_values[mid - 1] + sorted_values[mid]) / 2


def slope_per_hour(points: Sequence[tuple[int, float]]) -> float:
    """Robust trend of (epoch ms, value) points in time order, in value units per hour.

    The slope between the medians of the older and the newer half of the window: exact for a
    straight line, and a single spike (which the threshold and statistical rules are there to
    catch) cannot move either median by more than one rank, wherever it sits in the window.
    """
    pts = list(points)
    n = len(pts)
    half = n // 2
    if half == 0:
        return 0.0
    older, newer = pts[:half], pts[n - half :]
    dt = _median([t for t, _ in newer]) - _median([t for t, _ in older])  # already in order
    if dt <= 0:
        return 0.0
    dv = _median(sorted([v for _, v in newer])) - _median(sorted([v for _, v in older]))
    return dv * 3_600_000 / dt


def check_rate(rules: KindRules, config: RulesConfig, points: Sequence[tuple[int, float]]) -> Check:
    """|slope| above ``max_rate_per_hour`` breaches; clears at or below limit x clear ratio."""
    limit = rules.max_rate_per_hour
    if limit is None or len(points) < config.rate_min_points:
        return UNKNOWN
    if points[-1][0] - points[0][0] < config.rate_min_span_ms:
        return UNKNOWN
    rate = slope_per_hour(points)
    magnitude = abs(rate)
    if magnitude > limit:
        status = Status.BREACH
    elif magnitude <= limit * config.rate_clear_ratio:
        status = Status.CLEAR
    else:
        status = Status.HOLD
    return Check(status, rate, limit)


def check_stuck(rules: KindRules, repeat_count: int, value: float) -> Check:
    """The same value ``stuck_readings`` times in a row breaches; any change clears."""
    n = rules.stuck_readings
    if n is None:
        return UNKNOWN
    if repeat_count >= n:
        return Check(Status.BREACH, value, float(n))
    if repeat_count == 1:
        return Check(Status.CLEAR, value, float(n))
    return Check(Status.HOLD, value, float(n))


# Sustained rule: readings summed per bucket of this many ms ([bucket start, sum, count]).
SUSTAINED_BUCKET_MS = 60_000


def add_to_window(buckets: deque[list[float]], ts_ms: int, value: float, window_ms: int) -> None:
    """Add a reading to per-minute sums, dropping buckets that left the window (bounded:
    at most window / 1 min + 1 buckets, whatever the reading rate)."""
    start = ts_ms - ts_ms % SUSTAINED_BUCKET_MS
    if buckets and buckets[-1][0] == start:
        buckets[-1][1] += value
        buckets[-1][2] += 1
    elif not buckets or start > buckets[-1][0]:
        buckets.append([start, value, 1])
    # (a reading older than the newest bucket is late: it does not change the window)
    while buckets and buckets[0][0] <= ts_ms - window_ms:
        buckets.popleft()


def check_sustained(rules: KindRules, buckets: Sequence[Sequence[float]], ts_ms: int) -> Check:
    """The mean of the readings in the window above ``sustained_high`` breaches; it clears at
    or below ``sustained_high - hysteresis``; UNKNOWN until the readings span
    ``sustained_min_coverage`` of the window (a fresh start must not judge a 24-hour mean on
    five minutes). The value reported is the window mean."""
    limit = rules.sustained_high
    if limit is None or not buckets:
        return UNKNOWN
    if ts_ms - buckets[0][0] < rules.sustained_min_coverage * rules.sustained_window_ms:
        return UNKNOWN
    mean = math.fsum(b[1] for b in buckets) / sum(b[2] for b in buckets)
    if mean > limit:
        status = Status.BREACH
    elif mean <= limit - rules.hysteresis:
        status = Status.CLEAR
    else:
        status = Status.HOLD
    return Check(status, mean, limit)


def check_silence(config: RulesConfig, last_arrival_ms: int, now_ms: int) -> Check:
    """Breached when nothing arrived for longer than the timeout; value = seconds silent."""
    silent_ms = now_ms - last_arrival_ms
    status = Status.BREACH if silent_ms > config.silence_timeout_ms else Status.CLEAR
    return Check(status, silent_ms / 1000, config.silence_timeout_ms / 1000)


def rolling_band(
    window: Sequence[float], min_std: float, k: float
) -> tuple[float, float, float, float]:
    """Mean, effective (floored, sample) standard deviation and the mean +- k*std band."""
    n = len(window)
    mean = math.fsum(window) / n
    var = math.fsum((x - mean) ** 2 for x in window) / (n - 1)
    std = max(math.sqrt(var), min_std)
    return mean, std, mean - k * std, mean + k * std


def check_statistical(
    rules: KindRules, config: RulesConfig, window: Sequence[float], value: float
) -> Check:
    """Rolling z-score of ``value`` against the previous values in ``window`` (warm-up first).

    Breaches beyond ``zscore_fire`` standard deviations, clears within ``zscore_clear``.
    The band reported is the firing band.
    """
    if not rules.statistical or len(window) < config.zscore_warmup:
        return UNKNOWN
    mean, std, low, high = rolling_band(window, rules.min_std, config.zscore_fire)
    z = abs(value - mean) / std
    if z > config.zscore_fire:
        status = Status.BREACH
    elif z <= config.zscore_clear:
        status = Status.CLEAR
    else:
        status = Status.HOLD
    return Check(status, value, config.zscore_fire, low, high)


class SeqStep(Enum):
    NEXT = "next"  # a new packet, possibly after a gap
    DUPLICATE = "duplicate"  # same packet again (another sensor of the tag, another gateway)
    RESTART = "restart"  # the tag rebooted (sequence started over) or jumped implausibly


def classify_sequence(
    config: RulesConfig, last_seq: int, seq: int, modulus: int = SEQ_MODULUS
) -> tuple[SeqStep, int]:
    """Classify ``seq`` after ``last_seq`` on the counter wrapping at ``modulus`` (Format 5:
    0..65534; E1: 0..16,777,214; Format 6: 0..255).

    Returns the step kind and, for ``NEXT``, the number of packets lost in between
    (65534 -> 0 loses none; 65533 -> 2 loses 65534, 0 and 1).
    """
    delta = (seq - last_seq) % modulus
    if delta == 0 or delta >= modulus - config.seq_reorder_tolerance:
        return SeqStep.DUPLICATE, 0
    if delta > config.seq_restart_gap:
        return SeqStep.RESTART, 0
    return SeqStep.NEXT, delta - 1


def check_lost_packets(config: RulesConfig, lost_per_packet: Sequence[int]) -> Check:
    """Loss rate = lost / (lost + received) over the recent packets of one tag."""
    lost = sum(lost_per_packet)
    expected = lost + len(lost_per_packet)
    if expected < config.lost_min_expected:
        return UNKNOWN
    rate = lost / expected
    if rate > config.lost_fire_rate:
        status = Status.BREACH
    elif rate <= config.lost_clear_rate:
        status = Status.CLEAR
    else:
        status = Status.HOLD
    return Check(status, rate, config.lost_fire_rate)
