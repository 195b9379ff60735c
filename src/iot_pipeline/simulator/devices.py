"""Device descriptions from a JSON or YAML file (pure parsing plus one file read)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from iot_pipeline.simulator.models import SENSOR_MODELS, DeviceSpec, Location


class DeviceFileError(ValueError):
    """The devices file is unreadable or describes an invalid device."""


class _LocationEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    building: str | None = None
    floor: int | None = None
    zone: str | None = None


class _DeviceEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device_id: str = Field(min_length=1, max_length=128)
    device_type: str
    interval_sec: float | None = Field(None, ge=0)
    location: _LocationEntry | None = None
    firmware_version: str = "1.4.2"

    @field_validator("device_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in SENSOR_MODELS:
            raise ValueError(f"unknown device type {value!r}; known: {sorted(SENSOR_MODELS)}")
        return value


def parse_devices(document: Any, default_interval_sec: float) -> list[DeviceSpec]:
    """A list of device entries (or {"devices": [...]}) into DeviceSpecs."""
    entries = document.get("devices") if isinstance(document, dict) else document
    if not isinstance(entries, list) or not entries:
        raise DeviceFileError("expected a non-empty list of devices (or {'devices': [...]})")
    devices = []
    for index, raw in enumerate(entries):
        try:
            entry = _DeviceEntry.model_validate(raw)
        except ValidationError as error:
            raise DeviceFileError(f"device #{index + 1}: {error}") from None
        location = None if entry.location is None else Location(**entry.location.model_dump())
        interval = default_interval_sec if entry.interval_sec is None else entry.interval_sec
        devices.append(
            DeviceSpec(
                entry.device_id, entry.device_type, interval, location, entry.firmware_version
            )
        )
    ids = [d.device_id for d in devices]
    if len(set(ids)) != len(ids):
        raise DeviceFileError("device_id values must be unique")
    return devices


def load_devices(path: Path, default_interval_sec: float) -> list[DeviceSpec]:
    try:
        text = path.read_text("utf-8")
        document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as error:
        raise DeviceFileError(f"cannot read devices file {path}: {error}") from None
    return parse_devices(document, default_interval_sec)
