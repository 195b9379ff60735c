"""Render the configuration reference (docs/configuration.md) from the Settings model.

The model is the source of truth; `python -m iot_pipeline.config docs > docs/configuration.md`
rewrites the reference, and a unit test fails when the two differ.
"""

from __future__ import annotations

from pydantic.fields import FieldInfo

from iot_pipeline.config.settings import SECRET_FIELDS, Settings, env_name

HEADER = """# Configuration reference

Every service reads the same settings model (`src/iot_pipeline/config/settings.py`) from, highest
priority first: environment variables, an optional `.env` file in the working directory, the YAML
file named by `IOT_CONFIG_FILE` (default `src/iot_pipeline/config/config.yaml`), then the defaults
below. An invalid value stops a service at start with a message naming the variable. Secrets are
never logged.

This file is generated: `python -m iot_pipeline.config docs > docs/configuration.md`.

| Variable | Default | Description |
| --- | --- | --- |
"""


def _default_text(name: str, field: FieldInfo) -> str:
    if name in SECRET_FIELDS:
        return "(secret)"
    factory = field.default_factory
    value = factory() if factory is not None else field.default  # type: ignore[call-arg]
    if value is None:
        return "(unset)"
    if isinstance(value, list):
        return "`" + ",".join(str(item) for item in value) + "`"
    return f"`{value}`"


def render_configuration_reference() -> str:
    rows = [
        f"| `{env_name(name)}` | {_default_text(name, field)} | {field.description or ''} |"
        for name, field in Settings.model_fields.items()
    ]
    extra = "| `IOT_CONFIG_FILE` | (packaged config.yaml) | YAML file of default values. |"
    return HEADER + "\n".join([*rows, extra]) + "\n"
