"""Configuration: one pydantic-settings model for every service."""

from iot_pipeline.config.settings import (
    Settings,
    SettingsError,
    load_settings,
    load_settings_or_exit,
)

__all__ = ["Settings", "SettingsError", "load_settings", "load_settings_or_exit"]
