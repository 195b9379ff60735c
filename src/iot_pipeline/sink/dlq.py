"""Dead-letter records: the original bytes, with headers that say why and where from (pure)."""

from __future__ import annotations

from enum import StrEnum

SERVICE = "timescaledb-sink"


class DeadLetterReason(StrEnum):
    """Why a record was dead-lettered. A bounded set: it labels metrics and DLQ headers."""

    DESERIALIZATION = "deserialization"  # not Confluent-framed Avro, or schema not in the registry
    INVALID_READING = "invalid_reading"  # decodes, but cannot become a sensor_readings row
    DATABASE_REJECTED = "database_rejected"  # PostgreSQL refused the row (data/constraint error)


def dlq_headers(
    reason: DeadLetterReason,
    detail: str,
    topic: str,
    partition: int,
    offset: int,
    original_headers: list[tuple[str, bytes | None]] | None = None,
) -> list[tuple[str, bytes]]:
    """Headers of a dead letter: the original record's headers first, then ours."""
    headers = [(k, v if v is not None else b"") for k, v in (original_headers or [])]
    headers += [
        ("dlq.reason", reason.value.encode()),
        ("dlq.error", detail[:1000].encode("utf-8", "replace")),
        ("dlq.source.topic", topic.encode()),
        ("dlq.source.partition", str(partition).encode()),
        ("dlq.source.offset", str(offset).encode()),
        ("dlq.service", SERVICE.encode()),
    ]
    return headers
