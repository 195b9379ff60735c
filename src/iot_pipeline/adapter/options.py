"""The adapter's options, built from the settings and checked there."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from iot_pipeline.adapter.transform import ALL_SENSOR_NAMES, BatteryModel, Threshold
from iot_pipeline.adapter.validation import ValidationLimits
from iot_pipeline.config import Settings, SettingsError


@dataclass(frozen=True, slots=True)
class AdapterOptions:
    limits: ValidationLimits = field(default_factory=ValidationLimits)
    thresholds: Mapping[str, Threshold] = field(default_factory=dict)
    battery: BatteryModel = field(default_factory=BatteryModel)
    dedup_window_sec: float = 10.0
    dedup_max_entries: int = 100_000
    retry_backoff_sec: float = 1.0
    max_devices_tracked: int = 100_000
    max_gateways_tracked: int = 10_000
    derived_values: bool = False  # also publish dew point, absolute humidity, IAQS records
    air_format_hold_sec: float = 60.0  # a tag heard in E1 has its Format 6 dropped this long


def build_options(settings: Settings) -> AdapterOptions:
    """The adapter's options from the settings (SettingsError naming the variable if invalid)."""
    unknown = sorted(set(settings.adapter_anomaly_thresholds) - set(ALL_SENSOR_NAMES))
    if unknown:
        raise SettingsError(
            f"ADAPTER_ANOMALY_THRESHOLDS: unknown sensors {unknown}; "
            f"known: {list(ALL_SENSOR_NAMES)}"
        )
    if settings.adapter_battery_full_volts <= settings.adapter_battery_empty_volts:
        raise SettingsError("ADAPTER_BATTERY_FULL_VOLTS must be above ADAPTER_BATTERY_EMPTY_VOLTS")
    return AdapterOptions(
        limits=ValidationLimits(
            max_payload_bytes=settings.adapter_max_payload_bytes,
            max_future=timedelta(seconds=settings.adapter_max_future_sec),
            max_past=timedelta(seconds=settings.adapter_max_past_sec),
            status_topic_prefix=settings.adapter_status_topic_prefix,
        ),
        thresholds={
            sensor: Threshold(low, high)
            for sensor, (low, high) in settings.adapter_anomaly_thresholds.items()
        },
        battery=BatteryModel(
            settings.adapter_battery_empty_volts, settings.adapter_battery_full_volts
        ),
        dedup_window_sec=settings.adapter_dedup_window_sec,
        dedup_max_entries=settings.adapter_dedup_max_entries,
        derived_values=settings.adapter_derived_values,
    )
