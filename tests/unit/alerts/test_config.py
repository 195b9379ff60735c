import pytest

from iot_pipeline.alerts.config import (
    KindRules,
    RulesConfig,
    default_kinds,
    device_kind,
    normalise_value,
)
from iot_pipeline.alerts.model import Severity


@pytest.mark.parametrize(
    ("device_type", "kind"),
    [
        ("temperature_sensor", "temperature"),
        ("temperature", "temperature"),
        ("Humidity_Sensor", "humidity"),
        ("pressure", "pressure"),
        ("battery_sensor", "battery"),
        ("acceleration_x_sensor", "acceleration_x"),
        ("movement_counter_sensor", "movement_counter"),
        (" light ", "light"),
        ("motion", "motion"),
    ],
)
def test_both_naming_schemes_map_to_one_kind(device_type, kind):
    assert device_kind(device_type) == kind


@pytest.mark.parametrize(
    ("kind", "value", "unit", "expected"),
    [
        ("pressure", 1013.25, "hPa", (101325.0, "Pa")),
        ("pressure", 101.325, "kPa", (101325.0, "Pa")),
        ("pressure", 101325.0, "Pa", (101325.0, "Pa")),
        ("battery", 2950.0, "mV", (2.95, "V")),
        ("battery", 2.95, "V", (2.95, "V")),
        ("temperature", 212.0, "°F", (100.0, "°C")),
        ("temperature", 273.15, "K", (0.0, "°C")),
        ("temperature", 21.0, "°C", (21.0, "°C")),
        ("temperature", 21.0, "", (21.0, "°C")),
        ("light", 300.0, "lux", (300.0, "lux")),
    ],
)
def test_values_are_normalised_to_the_kinds_unit(kind, value, unit, expected):
    got_value, got_unit = normalise_value(kind, value, unit)
    assert got_value == pytest.approx(expected[0], abs=1e-9)
    assert got_unit == expected[1]


def test_defaults_are_the_seed_design_thresholds():
    kinds = default_kinds()
    assert (kinds["temperature"].low, kinds["temperature"].high) == (-50.0, 50.0)
    assert (kinds["humidity"].low, kinds["humidity"].high) == (15.0, 100.0)
    assert (kinds["pressure"].low, kinds["pressure"].high) == (87_000.0, 108_500.0)
    assert (kinds["battery"].low, kinds["battery"].high) == (2.0, None)
    assert kinds["battery"].threshold_severity is Severity.WARNING
    config = RulesConfig()
    assert config.for_kind("light") == KindRules()


def test_overrides_replace_single_fields():
    config = RulesConfig().with_kind_overrides(
        {"temperature_sensor": {"high": 8.0, "threshold_severity": "warning"}, "light": {"low": 1}}
    )
    assert config.for_kind("temperature").high == 8.0
    assert config.for_kind("temperature").low == -50.0
    assert config.for_kind("temperature").threshold_severity is Severity.WARNING
    assert config.for_kind("light").low == 1


@pytest.mark.parametrize(
    "overrides",
    [{"temperature": {"no_such_field": 1}}, {"temperature": {"low": 60.0}}],
)
def test_bad_overrides_are_rejected(overrides):
    with pytest.raises(ValueError, match="temperature"):
        RulesConfig().with_kind_overrides(overrides)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"clear_after": 0},
        {"zscore_warmup": 1},
        {"zscore_window": 5, "zscore_warmup": 10},
        {"zscore_clear": 5.0, "zscore_fire": 4.0},
        {"lost_clear_rate": 0.3, "lost_fire_rate": 0.2},
        {"rate_clear_ratio": 0.0},
        {"rate_min_points": 1},
        {"silence_timeout_ms": 0},
        {"seq_restart_gap": 40000},
        {"kinds": {"x": KindRules(stuck_readings=1)}},
        {"kinds": {"x": KindRules(hysteresis=-1.0)}},
    ],
)
def test_invalid_configuration_is_rejected(kwargs):
    with pytest.raises(ValueError, match="invalid alert rules configuration"):
        RulesConfig(**kwargs)
