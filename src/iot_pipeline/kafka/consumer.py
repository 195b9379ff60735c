"""Consumer helpers: Avro decoding through the registry and at-least-once offset bookkeeping.

Services call `confluent_kafka.Consumer` directly with `consumer_config()` (auto commit off) and
commit with `offsets_to_commit()` only after what they did with the messages is safe.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from confluent_kafka import Message, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


class AvroValueDecoder:
    """Decodes Confluent wire-format Avro values with the writer schema from the registry."""

    def __init__(self, client: SchemaRegistryClient, reader_schema: str | None = None) -> None:
        self._deserializer = AvroDeserializer(client, reader_schema)

    def __call__(self, message: Message) -> dict[str, Any] | None:
        context = SerializationContext(message.topic(), MessageField.VALUE, message.headers())
        return self._deserializer(message.value(), context)


def offsets_to_commit(messages: Iterable[Message]) -> list[TopicPartition]:
    """The offsets to commit after `messages` are done: the highest offset + 1 per partition."""
    highest: dict[tuple[str, int], int] = {}
    for message in messages:
        key = (message.topic(), message.partition())
        offset = message.offset()
        if offset > highest.get(key, -1):
            highest[key] = offset
    return [
        TopicPartition(topic, partition, offset + 1)
        for (topic, partition), offset in sorted(highest.items())
    ]
