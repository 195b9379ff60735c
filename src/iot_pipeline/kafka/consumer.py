"""Consumer helpers: fast decoding of Confluent-framed Avro, decode-error triage, and
at-least-once offset bookkeeping.

Services call `confluent_kafka.Consumer` directly with `consumer_config()` (auto commit off) and
commit with `offsets_to_commit()` only after what they did with the messages is safe.

Decoding: measured on this project's machine, confluent-kafka 2.16's AvroDeserializer spends
~90-250 us per reading, fastavro's schemaless_reader with a pre-parsed writer schema ~30 us; at
the sink's rates that difference is most of the CPU. FramedAvroDecoder fetches each writer schema
once per schema id and parses it once; its result equals AvroDeserializer's (checked against the
real registry in tests/e2e/sink/test_decoding_registry.py).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from typing import Any, Protocol

import fastavro
import httpx2
from confluent_kafka import Message, TopicPartition
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import SerializationError

MAGIC_BYTE = 0
FRAME_SIZE = 5  # the magic byte and the 4-byte schema id before the Avro body


class SchemaSource(Protocol):
    """The part of SchemaRegistryClient used here (raises SchemaRegistryError, e.g. 404)."""

    def get_schema(self, schema_id: int) -> Any: ...


def millis_as_long(schema: Any) -> Any:
    """The schema with its ``timestamp-millis`` annotations dropped (pure): those values come out
    as int milliseconds, not datetimes - the TimescaleDB sink encodes them straight to
    PostgreSQL's binary COPY, and fastavro's datetime conversion costs about a third of decoding
    a reading. Other logical types stay: a writer schema with ``timestamp-micros`` (an evolution
    the registry's compatibility check allows) still decodes to a datetime, which the sink's
    general path converts, instead of microseconds misread as milliseconds."""
    if isinstance(schema, dict):
        if schema.get("logicalType") == "timestamp-millis":
            return millis_as_long(schema["type"])
        return {key: millis_as_long(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [millis_as_long(item) for item in schema]
    return schema


def schema_id_of(value: bytes) -> int:
    """The writer schema id of a Confluent-framed value; raises SerializationError for a value
    that is not framed so (poison)."""
    if len(value) < FRAME_SIZE or value[0] != MAGIC_BYTE:
        raise SerializationError(
            "not Confluent-framed Avro (expected magic byte 0 and a 4-byte schema id)"
        )
    return int.from_bytes(value[1:FRAME_SIZE], "big")


class FramedAvroDecoder:
    """``millis_as_int=True``: ``timestamp-millis`` values as int milliseconds (see
    :func:`millis_as_long`)."""

    def __init__(self, registry: SchemaSource, *, millis_as_int: bool = False) -> None:
        self._registry = registry
        self._millis_as_int = millis_as_int
        self._parsed: dict[int, Any] = {}

    def __call__(self, message: Message) -> dict[str, Any] | None:
        value = message.value()
        if value is None:
            return None
        return self.decode(value)

    def writer_schema(self, schema_id: int) -> Any:
        """The parsed writer schema of ``schema_id`` (fetched once; raises the registry's
        errors, see :func:`is_transient_decode_error`)."""
        parsed = self._parsed.get(schema_id)
        if parsed is None:
            schema = self._registry.get_schema(schema_id)
            if schema.schema_type not in (None, "AVRO"):
                raise SerializationError(f"schema id {schema_id} is {schema.schema_type}, not Avro")
            loaded = json.loads(schema.schema_str)
            if self._millis_as_int:
                loaded = millis_as_long(loaded)
            parsed = fastavro.parse_schema(loaded)
            self._parsed[schema_id] = parsed
        return parsed

    def decode(self, value: bytes) -> dict[str, Any]:
        writer = self.writer_schema(schema_id_of(value))
        try:
            record = fastavro.schemaless_reader(io.BytesIO(value[FRAME_SIZE:]), writer, None)
        except (EOFError, ValueError, IndexError, UnicodeDecodeError, TypeError) as exc:
            raise SerializationError(f"Avro body does not decode: {type(exc).__name__}") from exc
        if not isinstance(record, dict):
            raise SerializationError("Avro value is not a record")
        return record


def is_transient_decode_error(exc: BaseException) -> bool:
    """Registry unreachable or failing (5xx, network) is transient; a bad frame, an unknown schema
    id (404) or a body that does not decode with its schema is poison."""
    if isinstance(exc, SchemaRegistryError):
        status = exc.http_status_code
        return not (isinstance(status, int) and 400 <= status < 500)
    # The registry client's HTTP library raises its own errors for refused/reset/timed-out
    # connections (httpx2.ConnectError is not an OSError).
    return isinstance(exc, ConnectionError | TimeoutError | OSError | httpx2.TransportError)


def position(message: Message) -> tuple[str, int, int]:
    """(topic, partition, offset) of a consumed message: always all three (only a message being
    produced may lack them)."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    assert topic is not None and partition is not None and offset is not None
    return topic, partition, offset


def offsets_to_commit(messages: Iterable[Message]) -> list[TopicPartition]:
    """The offsets to commit after `messages` are done: the highest offset + 1 per partition."""
    highest: dict[tuple[str, int], int] = {}
    for message in messages:
        topic, partition, offset = position(message)
        key = (topic, partition)
        if offset > highest.get(key, -1):
            highest[key] = offset
    return [
        TopicPartition(topic, partition, offset + 1)
        for (topic, partition), offset in sorted(highest.items())
    ]
