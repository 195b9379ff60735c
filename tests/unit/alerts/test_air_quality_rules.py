"""Indoor air quality rules: CO2 sustained above 1,000 ppm, PM2.5 24-hour mean above the WHO
guideline (15 µg/m³) and short PM2.5 spikes; the sustained-mean rule itself."""

from collections import deque

import pytest

from iot_pipeline.alerts import rules as r
from iot_pipeline.alerts.config import KindRules, RulesConfig, default_kinds
from iot_pipeline.alerts.engine import AlertEngine
from iot_pipeline.alerts.model import EventType, Reading, Rule, Severity
from iot_pipeline.alerts.rules import Status

MIN = 60_000
FIRED, RESOLVED = EventType.FIRED, EventType.RESOLVED


def window(points, window_ms):
    buckets: deque[list[float]] = deque()
    for ts, value in points:
        r.add_to_window(buckets, ts, value, window_ms)
    return buckets


def test_window_keeps_per_minute_sums_and_drops_old_buckets() -> None:
    buckets = window([(0, 1.0), (10_000, 3.0), (MIN, 5.0), (16 * MIN, 7.0)], 15 * MIN)
    assert [list(b) for b in buckets] == [[16 * MIN, 7.0, 1]]  # minutes 0 and 1 left the window
    buckets = window([(0, 1.0), (10_000, 3.0), (MIN, 5.0)], 15 * MIN)
    assert [list(b) for b in buckets] == [[0, 4.0, 2], [MIN, 5.0, 1]]
    r.add_to_window(buckets, 30_000, 100.0, 15 * MIN)  # late reading: ignored
    assert [list(b) for b in buckets] == [[0, 4.0, 2], [MIN, 5.0, 1]]


def test_sustained_needs_coverage_then_judges_the_mean() -> None:
    rules = KindRules(sustained_high=1000.0, hysteresis=100.0, sustained_window_ms=15 * MIN)
    points = [(t * MIN, 1200.0) for t in range(11)]
    assert r.check_sustained(rules, window(points, 15 * MIN), 10 * MIN).status is Status.UNKNOWN
    points.append((12 * MIN, 1200.0))  # 12 of 15 minutes: 80 % >= 75 % coverage
    check = r.check_sustained(rules, window(points, 15 * MIN), 12 * MIN)
    assert (check.status, check.value, check.threshold) == (Status.BREACH, 1200.0, 1000.0)


@pytest.mark.parametrize(
    ("level", "status"), [(1000.5, Status.BREACH), (950.0, Status.HOLD), (900.0, Status.CLEAR)]
)
def test_sustained_hysteresis(level: float, status: Status) -> None:
    rules = KindRules(sustained_high=1000.0, hysteresis=100.0, sustained_window_ms=15 * MIN)
    points = [(t * MIN, level) for t in range(16)]
    assert r.check_sustained(rules, window(points, 15 * MIN), 15 * MIN).status is status


def test_one_short_co2_peak_is_not_sustained() -> None:
    rules = KindRules(sustained_high=1000.0, hysteresis=100.0, sustained_window_ms=15 * MIN)
    points = [(t * 10_000, 1800.0 if 30 <= t < 36 else 700.0) for t in range(91)]  # 1 min peak
    assert r.check_sustained(rules, window(points, 15 * MIN), 900_000).status is Status.CLEAR


def test_defaults_follow_published_guidance() -> None:
    kinds = default_kinds()
    co2, pm = kinds["co2"], kinds["pm2_5"]
    assert (co2.sustained_high, co2.sustained_window_ms, co2.high) == (1000.0, 15 * MIN, 5000.0)
    assert (pm.sustained_high, pm.sustained_window_ms, pm.high) == (15.0, 24 * 60 * MIN, 55.0)
    assert pm.threshold_severity is Severity.WARNING
    assert not co2.statistical and not pm.statistical
    for kind in ("pm1_0", "voc_index", "illuminance", "dew_point", "air_quality_index"):
        assert kinds[kind] == KindRules(statistical=False)


def test_bad_sustained_configuration_is_refused() -> None:
    with pytest.raises(ValueError, match="sustained_window_ms"):
        RulesConfig(kinds={"co2": KindRules(sustained_high=1.0, sustained_window_ms=1000)})


def _co2(t_ms: int, value: float, device: str = "cb:b8:33:4c:88:4f_co2") -> Reading:
    return Reading(device, "co2_sensor", t_ms, value, "ppm", "CB:B8:33:4C:88:4F", None)


def test_engine_fires_once_for_sustained_co2_and_resolves() -> None:
    eng = AlertEngine(RulesConfig())
    events = []
    for i in range(0, 40 * 6):  # every 10 s for 40 minutes: 1,400 ppm, then fresh air
        t = i * 10_000
        value = 1400.0 if t < 20 * MIN else 600.0
        events += eng.on_reading(_co2(t, value), t)
    sustained = [(e.event_type, e.rule) for e in events if e.rule is Rule.SUSTAINED_HIGH]
    assert sustained == [(FIRED, Rule.SUSTAINED_HIGH), (RESOLVED, Rule.SUSTAINED_HIGH)]
    fired = next(e for e in events if e.event_type is FIRED)
    assert fired.event_time_ms >= 0.75 * 15 * MIN and fired.threshold == 1000.0
    assert fired.severity is Severity.WARNING
    assert not [e for e in events if e.rule is Rule.THRESHOLD_HIGH]


def test_engine_pm25_spike_and_daily_mean() -> None:
    eng = AlertEngine(RulesConfig())
    device = "cb:b8:33:4c:88:4f_pm2_5"
    events = []
    for i in range(0, 20 * 60):  # every minute for 20 hours at 18 µg/m³, one spike of 80
        t = i * MIN
        value = 80.0 if i == 30 else 18.0
        events += eng.on_reading(Reading(device, "pm2_5_sensor", t, value, "µg/m³", None, None), t)
    rules = [(e.event_type, e.rule) for e in events]
    assert rules[:2] == [(FIRED, Rule.THRESHOLD_HIGH), (RESOLVED, Rule.THRESHOLD_HIGH)]
    assert events[0].event_time_ms == 30 * MIN and events[0].value == 80.0
    assert rules[2:] == [(FIRED, Rule.SUSTAINED_HIGH)]  # once 18 h of 24 are covered
    assert events[2].event_time_ms == 18 * 60 * MIN and events[2].value > 15.0


def test_snapshot_keeps_the_window_and_reads_old_snapshots() -> None:
    eng = AlertEngine(RulesConfig())
    for i in range(30):
        eng.on_reading(_co2(i * MIN, 1500.0), i * MIN)
    snap = eng.snapshot()
    again = AlertEngine.from_snapshot(RulesConfig(), snap)
    assert again.snapshot() == snap
    for device in snap["devices"].values():
        del device["sustained"]
    assert AlertEngine.from_snapshot(RulesConfig(), snap).devices


@pytest.mark.parametrize(
    ("last", "seq", "modulus", "expected"),
    [
        (16_777_214, 0, 16_777_215, (r.SeqStep.NEXT, 0)),  # E1 wraps before its sentinel
        (70_000, 70_003, 16_777_215, (r.SeqStep.NEXT, 2)),  # beyond Format 5's range
        (255, 0, 256, (r.SeqStep.NEXT, 0)),  # Format 6: 8 bits, no sentinel
        (250, 3, 256, (r.SeqStep.NEXT, 8)),
        (3, 250, 256, (r.SeqStep.DUPLICATE, 0)),  # 9 back: a late copy
    ],
)
def test_sequence_counters_of_every_format(last, seq, modulus, expected) -> None:
    assert r.classify_sequence(RulesConfig(), last, seq, modulus) == expected


def test_records_carry_their_counter_s_modulus() -> None:
    from iot_pipeline.alerts.model import reading_from_record

    base = {"device_id": "d", "device_type": "temperature_sensor", "timestamp": 1, "value": 1.0}
    for data_format, modulus in (("225", 16_777_215), ("6", 256), ("5", 65535), (None, 65535)):
        record = {**base, "metadata": {} if data_format is None else {"data_format": data_format}}
        assert reading_from_record(record).sequence_modulus == modulus


def test_e1_tag_losses_are_counted_beyond_16_bits() -> None:
    eng = AlertEngine(RulesConfig(kinds={}, default_kind=KindRules(statistical=False)))
    events = []
    seq = 100_000
    for i in range(60):
        seq += 1 if i % 2 else 2  # every other packet loses one
        reading = Reading(
            "tag_temperature",
            "temperature_sensor",
            i * 5000,
            21 + i / 10,
            "°C",
            "AA",
            seq,
            16_777_215,
        )
        events += eng.on_reading(reading, i * 5000)
    assert [(e.event_type, e.rule) for e in events] == [(FIRED, Rule.LOST_PACKETS)]
