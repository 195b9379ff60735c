"""Loading the packaged Avro schemas and registering them with the configured compatibility."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import Any

from confluent_kafka.schema_registry import (
    Schema,
    SchemaRegistryClient,
    record_subject_name_strategy,
    topic_record_subject_name_strategy,
    topic_subject_name_strategy,
)
from confluent_kafka.serialization import MessageField, SerializationContext

READING_SCHEMA_FILE = "iot_sensor_reading.avsc"

# The signature confluent-kafka declares for its strategies (None: no record name).
SubjectNameStrategy = Callable[[SerializationContext | None, str | None], str | None]

_STRATEGIES: dict[str, SubjectNameStrategy] = {
    "TopicNameStrategy": topic_subject_name_strategy,
    "RecordNameStrategy": record_subject_name_strategy,
    "TopicRecordNameStrategy": topic_record_subject_name_strategy,
}


def load_schema(file_name: str) -> str:
    """The text of a packaged .avsc file (validated as JSON)."""
    text = resources.files("iot_pipeline.schemas").joinpath(file_name).read_text("utf-8")
    json.loads(text)
    return text


def record_full_name(schema_str: str) -> str:
    schema: dict[str, Any] = json.loads(schema_str)
    namespace = schema.get("namespace")
    return f"{namespace}.{schema['name']}" if namespace else schema["name"]


def subject_name_strategy(name: str) -> SubjectNameStrategy:
    """The confluent-kafka subject name strategy for a SCHEMA_SUBJECT_STRATEGY value."""
    try:
        return _STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown subject name strategy {name!r}") from None


def value_subject(strategy: str, topic: str, schema_str: str) -> str:
    """The subject a value schema is registered under for this topic and strategy."""
    context = SerializationContext(topic, MessageField.VALUE)
    subject = subject_name_strategy(strategy)(context, record_full_name(schema_str))
    if subject is None:  # only for a record without a name, which an .avsc here never is
        raise ValueError(f"no subject for topic {topic!r} under {strategy}")
    return subject


def ensure_value_schema(
    client: SchemaRegistryClient,
    topic: str,
    schema_str: str,
    compatibility: str,
    strategy: str = "TopicNameStrategy",
) -> int:
    """Set the subject's compatibility level and register the schema; returns its id.

    Registering an already registered schema returns the existing id, so this is idempotent. An
    incompatible schema raises confluent_kafka.schema_registry.error.SchemaRegistryError (409).
    """
    subject = value_subject(strategy, topic, schema_str)
    client.set_compatibility(subject_name=subject, level=compatibility)
    return client.register_schema(subject, Schema(schema_str, "AVRO"))


def registry_client_config(settings: Any) -> dict[str, str]:
    """The SchemaRegistryClient configuration of ``settings`` (a ``Settings``): the URL, and HTTP
    Basic credentials when the registry requires them (SCHEMA_REGISTRY_USERNAME/_PASSWORD)."""
    config = {"url": settings.schema_registry_url}
    if settings.schema_registry_username:
        password = settings.schema_registry_password
        secret = password.get_secret_value() if password is not None else ""
        config["basic.auth.user.info"] = f"{settings.schema_registry_username}:{secret}"
    return config
