import pytest

from iot_pipeline.alerts import rules as r
from iot_pipeline.alerts.config import KindRules, RulesConfig
from iot_pipeline.alerts.rules import Check, SeqStep, Status

LIMITS = KindRules(low=15.0, high=100.0, hysteresis=2.0)


@pytest.mark.parametrize(
    ("value", "status"),
    [(100.5, Status.BREACH), (100.0, Status.HOLD), (98.5, Status.HOLD), (98.0, Status.CLEAR)],
)
def test_high_threshold_has_a_hysteresis_band(value, status):
    assert r.check_high(LIMITS, value) == Check(status, value, 100.0)


@pytest.mark.parametrize(
    ("value", "status"),
    [(14.9, Status.BREACH), (15.0, Status.HOLD), (16.9, Status.HOLD), (17.0, Status.CLEAR)],
)
def test_low_threshold_has_a_hysteresis_band(value, status):
    assert r.check_low(LIMITS, value) == Check(status, value, 15.0)


def test_thresholds_without_hysteresis_and_switched_off():
    assert r.check_high(KindRules(high=1.0), 1.0).status is Status.CLEAR
    assert r.check_low(KindRules(high=1.0), -1e9) == r.UNKNOWN
    assert r.check_high(KindRules(low=1.0), 1e9) == r.UNKNOWN


def test_slope_of_a_line_is_exact():
    # 0.5 units per 30 s = 60 units per hour
    points = [(30_000 * i, 10.0 + 0.5 * i) for i in range(10)]
    assert r.slope_per_hour(points) == pytest.approx(60.0, rel=1e-12)
    assert r.slope_per_hour([(5, 1.0), (5, 2.0)]) == 0.0


@pytest.mark.parametrize("where", [0, 1, 15, 29, 30])
def test_slope_is_robust_to_one_spike(where):
    points = [(10_000 * i, 20.0) for i in range(31)]
    points[where] = (10_000 * where, 45.0)
    assert r.slope_per_hour(points) == 0.0


def test_slope_of_a_noisy_ramp_with_a_spike():
    # 36 per hour with +-0.05 jitter and one spike at the newest point
    points = [(10_000 * i, 0.1 * i + (0.05 if i % 2 else -0.05)) for i in range(31)]
    points[-1] = (300_000, 40.0)
    assert r.slope_per_hour(points) == pytest.approx(36.0, abs=2.0)


def test_rate_needs_points_and_span():
    config = RulesConfig(rate_min_points=3, rate_min_span_ms=60_000)
    rules = KindRules(max_rate_per_hour=10.0)
    assert r.check_rate(rules, config, [(0, 0.0), (60_000, 5.0)]) == r.UNKNOWN
    assert r.check_rate(rules, config, [(0, 0.0), (1, 5.0), (59_999, 5.0)]) == r.UNKNOWN
    line = [(0, 0.0), (30_000, 1.0), (60_000, 2.0)]  # 120 per hour
    assert r.check_rate(rules, config, line).status is Status.BREACH
    falling = [(t, -v) for t, v in line]
    check = r.check_rate(rules, config, falling)
    assert check.status is Status.BREACH
    assert check.value == pytest.approx(-120.0)
    assert check.threshold == 10.0
    slow = [(0, 0.0), (1_800_000, 4.0), (3_600_000, 8.0)]  # 8/h <= 10 * 0.8
    assert r.check_rate(rules, config, slow).status is Status.CLEAR
    mid = [(0, 0.0), (1_800_000, 4.5), (3_600_000, 9.0)]  # 9/h: between clear and fire
    assert r.check_rate(rules, config, mid).status is Status.HOLD
    assert r.check_rate(KindRules(), config, line) == r.UNKNOWN


def test_stuck():
    rules = KindRules(stuck_readings=4)
    assert r.check_stuck(rules, 1, 7.0).status is Status.CLEAR
    assert r.check_stuck(rules, 3, 7.0).status is Status.HOLD
    assert r.check_stuck(rules, 4, 7.0) == Check(Status.BREACH, 7.0, 4.0)
    assert r.check_stuck(KindRules(), 100, 7.0) == r.UNKNOWN


def test_silence_uses_the_time_passed_in():
    config = RulesConfig(silence_timeout_ms=10_000)
    assert r.check_silence(config, 1_000, 11_000) == Check(Status.CLEAR, 10.0, 10.0)
    assert r.check_silence(config, 1_000, 11_001) == Check(Status.BREACH, 10.001, 10.0)


def test_statistical_band_and_warm_up():
    config = RulesConfig(zscore_window=10, zscore_warmup=4, zscore_fire=3.0, zscore_clear=2.0)
    rules = KindRules(min_std=0.01)
    window = [9.0, 11.0, 9.0, 11.0]  # mean 10, sample std sqrt(4/3)
    assert r.check_statistical(rules, config, window[:3], 100.0) == r.UNKNOWN
    std = (4 / 3) ** 0.5
    check = r.check_statistical(rules, config, window, 10.0 + 3.01 * std)
    assert check.status is Status.BREACH
    assert check.band_low == pytest.approx(10.0 - 3 * std)
    assert check.band_high == pytest.approx(10.0 + 3 * std)
    assert r.check_statistical(rules, config, window, 10.0 - 2.5 * std).status is Status.HOLD
    assert r.check_statistical(rules, config, window, 10.0 + 2.0 * std).status is Status.CLEAR
    assert r.check_statistical(KindRules(statistical=False), config, window, 99.0) == r.UNKNOWN


def test_statistical_floor_on_a_flat_signal():
    config = RulesConfig(zscore_window=10, zscore_warmup=4, zscore_fire=3.0, zscore_clear=2.0)
    flat = [5.0] * 5
    assert r.check_statistical(KindRules(min_std=0.1), config, flat, 5.25).status is Status.HOLD
    assert r.check_statistical(KindRules(min_std=0.1), config, flat, 5.31).status is Status.BREACH


CFG = RulesConfig(seq_restart_gap=1000, seq_reorder_tolerance=16)


@pytest.mark.parametrize(
    ("last", "seq", "expected"),
    [
        (10, 11, (SeqStep.NEXT, 0)),
        (10, 15, (SeqStep.NEXT, 4)),
        (10, 10, (SeqStep.DUPLICATE, 0)),
        (10, 5, (SeqStep.DUPLICATE, 0)),  # late copy relayed by a slower gateway
        (65534, 0, (SeqStep.NEXT, 0)),  # 65535 is "not available": 0 follows 65534
        (65533, 2, (SeqStep.NEXT, 3)),
        (65530, 65534, (SeqStep.NEXT, 3)),
        (0, 65534, (SeqStep.DUPLICATE, 0)),  # two behind across the wrap
        (500, 3, (SeqStep.RESTART, 0)),  # the tag rebooted
        (10, 1011, (SeqStep.RESTART, 0)),
        (10, 1010, (SeqStep.NEXT, 999)),
        (65000, 40, (SeqStep.NEXT, 574)),
    ],
)
def test_sequence_classification(last, seq, expected):
    assert r.classify_sequence(CFG, last, seq) == expected


def test_lost_packet_rate():
    config = RulesConfig(lost_min_expected=10, lost_fire_rate=0.2, lost_clear_rate=0.1)
    assert r.check_lost_packets(config, [0] * 9) == r.UNKNOWN
    assert r.check_lost_packets(config, [0] * 10) == Check(Status.CLEAR, 0.0, 0.2)
    assert r.check_lost_packets(config, [0] * 7 + [3]) == Check(Status.BREACH, 3 / 11, 0.2)
    assert r.check_lost_packets(config, [0] * 6 + [2]) == r.UNKNOWN  # 9 expected
    assert r.check_lost_packets(config, [0] * 8 + [2]).status is Status.HOLD  # 2/11
    assert r.check_lost_packets(config, [0] * 9 + [1]).status is Status.CLEAR  # 1/11
