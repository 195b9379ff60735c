"""The adapter's options from the settings, checked."""

from __future__ import annotations

import pytest

from iot_pipeline.adapter.options import build_options
from iot_pipeline.config import SettingsError, load_settings


def test_build_options_from_settings() -> None:
    options = build_options(load_settings(adapter_max_payload_bytes=1000))
    assert options.limits.max_payload_bytes == 1000
    assert options.thresholds["temperature"].high == 50.0
    assert options.thresholds["battery"].high is None


def test_build_options_rejects_unknown_sensors_and_battery_range() -> None:
    with pytest.raises(SettingsError, match="ADAPTER_ANOMALY_THRESHOLDS"):
        build_options(load_settings(adapter_anomaly_thresholds={"light": (0, 1)}))
    with pytest.raises(SettingsError, match="ADAPTER_BATTERY_FULL_VOLTS"):
        build_options(load_settings(adapter_battery_full_volts=1.9))


def test_topic_filters_come_from_a_comma_separated_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ADAPTER_MQTT_TOPICS", "$share/adapters/ruuvitag/data, ruuvi/+/+")
    assert load_settings().adapter_mqtt_topics == ["$share/adapters/ruuvitag/data", "ruuvi/+/+"]


def test_derived_values_switch_and_thresholds_for_the_new_sensors() -> None:
    assert build_options(load_settings()).derived_values is True  # the documented default
    assert build_options(load_settings(adapter_derived_values=False)).derived_values is False
    options = build_options(
        load_settings(adapter_anomaly_thresholds={"co2": (None, 1400), "dew_point": (None, 20)})
    )
    assert options.thresholds["co2"].high == 1400 and options.thresholds["dew_point"].high == 20
