"""Avro schemas (packaged .avsc files) and Schema Registry helpers."""

from iot_pipeline.schemas.registry import (
    READING_SCHEMA_FILE,
    ensure_value_schema,
    load_schema,
    subject_name_strategy,
    value_subject,
)

__all__ = [
    "READING_SCHEMA_FILE",
    "ensure_value_schema",
    "load_schema",
    "subject_name_strategy",
    "value_subject",
]
