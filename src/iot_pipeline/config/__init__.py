"""Configuration: one pydantic-settings model for every service."""

from iot_pipeline.config.settings import Settings, SettingsError, load_settings

__all__ = ["Settings", "SettingsError", "load_settings"]
