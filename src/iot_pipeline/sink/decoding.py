"""The sink's decoder: readings written with the packaged schema go straight from their Avro body
to a binary COPY tuple (:mod:`iot_pipeline.storage.reading_transcode`), the rest the general way.

It plugs into the consumer loop like :class:`~iot_pipeline.kafka.consumer.FramedAvroDecoder` and
keeps its contract: a bad frame, an unknown schema id or a body that does not decode raises the
same error (poison, dead-lettered with the same reason), an unreachable registry the registry's
error (retried). A body the transcoder does not take (another writer schema, anything uncommon)
is decoded by fastavro, and the step encodes that record as before
(:func:`~iot_pipeline.storage.reading_copy.encode_reading`), so an invalid reading is rejected
with the same reason. Measured with ``python -m bench.sink_stages`` (make bench sink).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from confluent_kafka import Message

from iot_pipeline.kafka.consumer import (
    FRAME_SIZE,
    FramedAvroDecoder,
    SchemaSource,
    schema_id_of,
)
from iot_pipeline.storage.reading_copy import EncodedRow, encode_reading
from iot_pipeline.storage.reading_transcode import is_transcodable, transcode_reading


class TranscodedReading(Mapping[str, Any]):
    """A reading already encoded for binary COPY (``data``, ``at`` as :class:`EncodedRow`).
    Its fields are decoded with fastavro only when asked for: the row-by-row path that isolates
    rows PostgreSQL refuses reads them (rare), the hot path never does."""

    __slots__ = ("_decode", "_fields", "_value", "at", "data")

    def __init__(
        self, data: bytes, at: float, value: bytes, decode: Callable[[bytes], dict[str, Any]]
    ) -> None:
        self.data = data
        self.at = at
        self._value = value
        self._decode = decode
        self._fields: dict[str, Any] | None = None

    def fields(self) -> dict[str, Any]:
        """The record as fastavro decodes it (decoded once, on first use)."""
        if self._fields is None:
            self._fields = self._decode(self._value)
        return self._fields

    def __getitem__(self, key: str) -> Any:
        return self.fields()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.fields())

    def __len__(self) -> int:
        return len(self.fields())


class TranscodingDecoder:
    """Timestamps as int milliseconds, like ``FramedAvroDecoder(millis_as_int=True)``: what the
    binary COPY encoding takes (timestamp-millis as int milliseconds)."""

    def __init__(self, registry: SchemaSource) -> None:
        self._avro = FramedAvroDecoder(registry, millis_as_int=True)
        self._transcodable: dict[int, bool] = {}

    def __call__(self, message: Message) -> Mapping[str, Any] | None:
        value = message.value()
        if value is None:
            return None
        return self.decode(value)

    def decode(self, value: bytes) -> Mapping[str, Any]:
        schema_id = schema_id_of(value)
        transcodable = self._transcodable.get(schema_id)
        if transcodable is None:
            # Once per schema id: a registry error propagates (retried or poison) uncached.
            transcodable = is_transcodable(self._avro.writer_schema(schema_id))
            self._transcodable[schema_id] = transcodable
        if transcodable:
            encoded = transcode_reading(value, FRAME_SIZE)
            if encoded is not None:
                return TranscodedReading(encoded[0], encoded[1], value, self._avro.decode)
        return self._avro.decode(value)


def encoded_row(record: Mapping[str, Any]) -> EncodedRow:
    """A decoded reading as a binary COPY tuple: a transcoded one as it is, any other record
    encoded (raises InvalidReading as :func:`encode_reading` does)."""
    if type(record) is TranscodedReading:
        return EncodedRow(record.data, record, record.at)
    return encode_reading(record)
