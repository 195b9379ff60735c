"""The one dead-letter convention: the original bytes, with headers that say why and where from.

Every service that dead-letters (the MQTT adapter, the TimescaleDB sink, any consumer built on
:mod:`iot_pipeline.stream`) builds its headers here, so a reader of the dead-letter topic finds
the same names whoever wrote the record:

- the original record's headers first (a Kafka source), unchanged;
- ``dlq.reason``: a short machine-readable reason (a bounded set per service: it labels metrics);
- ``dlq.error``: the human-readable detail, at most 1000 characters;
- ``dlq.source.<name>``: where the record came from (``topic``/``partition``/``offset`` for a
  Kafka record, ``mqtt_topic``/``received_at`` for an MQTT message);
- ``dlq.service``: the service that gave up on it.

``bare_names=True`` also writes the un-prefixed names the MQTT adapter used before this
convention (``reason``, ``error``, ``source`` and the source fields), which existing readers of
its dead letters rely on. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum

MAX_ERROR_CHARS = 1000
# The type confluent-kafka's produce() takes (a list is invariant: this exact element type).
Headers = list[tuple[str, str | bytes | None]]
OriginalHeaders = Iterable[tuple[str, str | bytes | None]] | Mapping[str, str | bytes | None]


class DeadLetterReason(StrEnum):
    """Why a consumer dead-lettered a record. A bounded set: it labels metrics and headers."""

    DESERIALIZATION = "deserialization"  # not Confluent-framed Avro, or schema not in the registry
    INVALID_READING = "invalid_reading"  # decodes, but is not a usable reading
    DATABASE_REJECTED = "database_rejected"  # PostgreSQL refused the row (data/constraint error)


def dead_letter_headers(
    reason: str,
    error: str,
    *,
    service: str,
    source: Sequence[tuple[str, str]],
    original: OriginalHeaders | None = None,
    bare_names: bool = False,
) -> Headers:
    """Headers of one dead letter (see the module docstring for the convention)."""
    detail = error[:MAX_ERROR_CHARS].encode("utf-8", "replace")
    items = original.items() if isinstance(original, Mapping) else (original or [])
    headers: Headers = [(k, _bytes(v)) for k, v in items]
    if bare_names:
        headers += [("reason", reason.encode()), ("error", detail)]
        headers += [(name, value.encode()) for name, value in source]
        headers += [("source", service.encode())]
    headers += [("dlq.reason", reason.encode()), ("dlq.error", detail)]
    headers += [(f"dlq.source.{name}", value.encode()) for name, value in source]
    headers += [("dlq.service", service.encode())]
    return headers


def _bytes(value: str | bytes | None) -> bytes:
    if value is None:
        return b""
    return value.encode() if isinstance(value, str) else value


def kafka_source(topic: str, partition: int, offset: int) -> list[tuple[str, str]]:
    """The ``source`` of a dead letter that was a Kafka record."""
    return [("topic", topic), ("partition", str(partition)), ("offset", str(offset))]
