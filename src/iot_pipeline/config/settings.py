"""The one configuration model shared by every service.

Values come from, highest priority first: keyword arguments (tests), environment variables, an
optional `.env` file in the working directory, the YAML file named by `IOT_CONFIG_FILE` (default:
the packaged `config.yaml`), then the defaults below. Variable names are the field names in upper
case (`kafka_topic_name` <- `KAFKA_TOPIC_NAME`), as in the seed design. Every field is documented in
docs/configuration.md; tests/unit/config/test_settings.py keeps the two in step.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from iot_pipeline.config.infrastructure import (
    KafkaSettings,
    LoggingSettings,
    MqttSettings,
    PostgresSettings,
    SchemaRegistrySettings,
)
from iot_pipeline.config.services import (
    SIMULATED_DEVICE_TYPES,
    AdapterSettings,
    AlertConsumerSettings,
    LakeSettings,
    SimulatorSettings,
    SinkSettings,
)

DEFAULT_CONFIG_FILE = Path(__file__).with_name("config.yaml")

# Never logged or echoed in error messages.
SECRET_FIELDS = frozenset(
    {
        "mqtt_password",
        "postgres_password",
        "lake_s3_secret_access_key",
        "schema_registry_password",
        "kafka_sasl_password",
    }
)


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the environment variable."""


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


# One model, its fields grouped by concern in infrastructure.py and services.py. pydantic lists
# inherited fields from the last base to the first: the bases stand in reverse so that the
# reference (docs/configuration.md) reads Kafka first, as the groups are declared below.
class Settings(
    LoggingSettings,
    LakeSettings,
    AlertConsumerSettings,
    SinkSettings,
    PostgresSettings,
    AdapterSettings,
    MqttSettings,
    SimulatorSettings,
    SchemaRegistrySettings,
    KafkaSettings,
    BaseSettings,
):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        validate_default=True,
    )

    @field_validator("log_level", "schema_compatibility_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("iot_device_types", "adapter_mqtt_topics", "iot_ruuvi_formats", mode="before")
    @classmethod
    def _device_types_from_commas(cls, value: Any) -> Any:
        return _split_commas(value)

    @field_validator("iot_ruuvi_formats")
    @classmethod
    def _known_ruuvi_formats(cls, value: list[str]) -> list[str]:
        known = ("5", "3", "E1", "6", "6+E1")
        value = [item.upper() for item in value]
        unknown = sorted(set(value) - set(known))
        if unknown or not value:
            raise ValueError(f"unknown or no tag formats {unknown}; known: {list(known)}")
        return value

    @field_validator("iot_device_types")
    @classmethod
    def _known_device_types(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(SIMULATED_DEVICE_TYPES))
        if unknown:
            raise ValueError(
                f"unknown device types {unknown}; known: {list(SIMULATED_DEVICE_TYPES)}"
            )
        if not value:
            raise ValueError("at least one device type is needed")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = Path(os.environ.get("IOT_CONFIG_FILE") or DEFAULT_CONFIG_FILE)
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file),
            file_secret_settings,
        )

    # --- Derived values (no I/O) -------------------------------------------------------------
    def postgres_url(self) -> str:
        """SQLAlchemy URL for psycopg2; raises SettingsError when the password is not set."""
        if self.postgres_password is None:
            raise SettingsError("POSTGRES_PASSWORD is not set; the database cannot be reached")
        from sqlalchemy.engine import URL

        return URL.create(
            "postgresql+psycopg2",
            username=self.postgres_user,
            password=self.postgres_password.get_secret_value(),
            host=self.postgres_host,
            port=self.postgres_port,
            database=self.postgres_db,
        ).render_as_string(hide_password=False)


def env_name(field_name: str) -> str:
    """The environment variable that sets a field."""
    return field_name.upper()


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, each naming the environment variable to fix."""
    lines = []
    for problem in error.errors():
        if not problem["loc"]:
            # A rule across fields (e.g. SASL needs a login): its message names the variables;
            # its input is every setting, secrets included, so it is never shown.
            lines.append(problem["msg"])
            continue
        field = str(problem["loc"][0])
        shown = "***" if field in SECRET_FIELDS else repr(problem.get("input"))
        lines.append(f"{env_name(field)}: {problem['msg']} (got {shown})")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning validation errors into a SettingsError naming each variable."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error)) from None


def load_settings_or_exit(service: str) -> Settings:
    """For a service's main(): the settings, or exit status 2 with the problems on stderr."""
    try:
        return load_settings()
    except SettingsError as error:
        print(f"{service}: {error}", file=sys.stderr)
        raise SystemExit(2) from None
