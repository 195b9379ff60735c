"""The one decode-with-retry policy of every consumer (a thin layer on the project's decoder).

A record either decodes, is empty, or is poison (a bad frame, an unknown schema id, a body that
does not match its schema): poison is dead-lettered at once. While the schema registry is
unreachable, decoding is retried with backoff and the loop's ``wait`` pauses the partitions
meanwhile (the consumer stays in its group); a stop request ends the retrying with
:class:`~iot_pipeline.stream.step.Abandon`, so the batch in hand is not committed and is re-read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from confluent_kafka import Message
from loguru import logger

from iot_pipeline.kafka.consumer import is_transient_decode_error
from iot_pipeline.retry import Backoff
from iot_pipeline.stream.step import Abandon

EMPTY_VALUE = "empty value"  # the detail of a record without a value (a tombstone)


class Decoder(Protocol):
    """A message's value as a record (None when the message has none); raises on bad input.
    :class:`iot_pipeline.kafka.consumer.FramedAvroDecoder` is the project's (a dict); the sink's
    :class:`iot_pipeline.sink.decoding.TranscodingDecoder` gives a mapping whose fields are read
    only when needed."""

    def __call__(self, message: Message) -> Mapping[str, Any] | None: ...


class Poison(Exception):
    """The record will never decode; the message says why."""


def decode_with_retry(
    decode: Decoder,
    message: Message,
    *,
    backoff: Backoff,
    wait: Callable[[float], None],
    stopping: Callable[[], bool],
) -> Mapping[str, Any] | None:
    """The decoded record, or None for an empty value; raises :class:`Poison` for a record that
    never will decode, :class:`Abandon` if asked to stop while the registry is unreachable."""
    attempt = 0
    while True:
        try:
            return decode(message)
        except Exception as exc:
            if not is_transient_decode_error(exc):
                raise Poison(f"{type(exc).__name__}: {exc}") from exc
            if stopping():
                raise Abandon(f"schema registry unavailable: {exc}") from exc
            attempt += 1
            logger.warning("schema registry unavailable ({}); retry {}", exc, attempt)
            wait(backoff.delay(attempt))
