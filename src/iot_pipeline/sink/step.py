"""The sink's step on the consumer loop: a decoded reading -> a row; a batch of rows -> one
database transaction (pure conversion, thin I/O).

Writes are idempotent on (device_id, timestamp), so a batch re-read after a crash adds nothing.
A batch PostgreSQL rejects for its data is written again row by row, and the rows it refuses are
returned to the loop, which dead-letters them; an unreachable database raises
:class:`~iot_pipeline.stream.Transient` (the loop pauses and retries).

Two row formats: :data:`BINARY_ROWS` (the service's default) encodes each reading straight to a
binary COPY tuple (:func:`~iot_pipeline.storage.reading_copy.encode_reading`, or already while
decoding: :class:`~iot_pipeline.sink.decoding.TranscodingDecoder`);
:data:`TUPLE_ROWS` builds a row tuple, sent as COPY text or INSERT values. Both reject the same
records with the same reasons.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message
from loguru import logger
from sqlalchemy import Engine

from iot_pipeline.kafka.dead_letter import DeadLetterReason
from iot_pipeline.schemas.records import InvalidReading
from iot_pipeline.sink.decoding import encoded_row
from iot_pipeline.sink.metrics import SinkMetrics, observe_many
from iot_pipeline.storage.reading_copy import EncodedRow
from iot_pipeline.storage.rows import Row, reading_to_row
from iot_pipeline.storage.schema import WRITE_COLUMNS
from iot_pipeline.storage.writer import (
    WriteMethod,
    is_data_error,
    write_batch,
    write_encoded_batch,
    write_rows_one_by_one,
)
from iot_pipeline.stream import Batch, Rejected, Rejection, StepBase, Transient

_TS_INDEX = WRITE_COLUMNS.index("timestamp")

V = TypeVar("V")
V_contra = TypeVar("V_contra", contravariant=True)


@dataclass(frozen=True, slots=True)
class RowFormat(Generic[V]):
    """What a decoded reading becomes (``make`` raises InvalidReading) and its time in epoch
    seconds."""

    make: Callable[[Mapping[str, Any]], V]
    epoch_seconds: Callable[[V], float]


def _tuple_time(row: Row) -> float:
    return float(row[_TS_INDEX].timestamp())


def _encoded_time(row: EncodedRow) -> float:
    return row.at


TUPLE_ROWS: RowFormat[Row] = RowFormat(reading_to_row, _tuple_time)
BINARY_ROWS: RowFormat[EncodedRow] = RowFormat(encoded_row, _encoded_time)


class RowStore(Protocol[V_contra]):
    """Where batches go: :class:`DatabaseStore` / :class:`BinaryDatabaseStore` in the service,
    a fake in unit tests."""

    def write(self, rows: Sequence[V_contra]) -> int:
        """Write all rows in one transaction; return how many were new."""
        ...

    def write_one_by_one(self, rows: Sequence[V_contra]) -> list[Exception | None]:
        """Write rows separately; per row None (stored) or the data error rejecting it."""
        ...


class DatabaseStore:
    def __init__(self, engine: Engine, method: WriteMethod = WriteMethod.COPY) -> None:
        self._engine = engine
        self._method = method

    def write(self, rows: Sequence[Row]) -> int:
        return write_batch(self._engine, rows, self._method)

    def write_one_by_one(self, rows: Sequence[Row]) -> list[Exception | None]:
        return write_rows_one_by_one(self._engine, rows)


class BinaryDatabaseStore:
    """Binary COPY of :class:`EncodedRow` batches; the row-by-row path that isolates rows
    PostgreSQL refuses builds row tuples from the records (rare: only after a data error)."""

    def __init__(self, engine: Engine, method: WriteMethod = WriteMethod.COPY) -> None:
        if method is WriteMethod.VALUES:
            raise ValueError("binary rows are written with COPY; use DatabaseStore for values")
        self._engine = engine
        self._method = method

    def write(self, rows: Sequence[EncodedRow]) -> int:
        return write_encoded_batch(self._engine, [r.data for r in rows], self._method)

    def write_one_by_one(self, rows: Sequence[EncodedRow]) -> list[Exception | None]:
        return write_rows_one_by_one(self._engine, [reading_to_row(r.record) for r in rows])


def kafka_time(message: Message) -> float | None:
    """A record's Kafka timestamp in epoch seconds (producer create time, or the broker's
    append time); None when the record has none."""
    kind, millis = message.timestamp()
    if kind == TIMESTAMP_NOT_AVAILABLE or millis is None or millis <= 0:
        return None
    return float(millis) / 1000.0


def _transient(exc: Exception) -> Transient:
    return Transient(" ".join(str(exc).split()))


class StoreRows(StepBase[V]):
    """``transform`` is pure and ``write`` touches only the store and the metrics (both
    thread-safe), so the loop may write a batch in the background while it transforms the
    next."""

    def __init__(
        self,
        store: RowStore[V],
        metrics: SinkMetrics,
        *,
        row_format: RowFormat[V],
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._make = row_format.make
        self._time_of = row_format.epoch_seconds
        self._clock = clock
        self._wall = wall_clock

    def transform(self, message: Message, record: Mapping[str, Any]) -> V:
        try:
            return self._make(record)
        except InvalidReading as exc:
            raise Rejected(DeadLetterReason.INVALID_READING, exc.reason) from exc

    def write(self, batch: Batch[Message, V]) -> list[Rejection]:
        rows = batch.values
        started = self._clock()
        inserted, refused = self._write(rows)
        self._metrics.insert_latency.observe(self._clock() - started)
        stored = len(rows) - len(refused)
        if inserted < 0:
            inserted = stored  # one-by-one path: new vs duplicate is not told apart
        now_wall = self._wall()
        refused_at = {r.index for r in refused}
        time_of = self._time_of
        ages: list[float] = []
        in_kafka: list[float] = []
        for i, (row, message) in enumerate(zip(rows, batch.value_messages, strict=True)):
            if i not in refused_at:
                ages.append(max(0.0, now_wall - time_of(row)))
                produced = kafka_time(message)
                if produced is not None:
                    in_kafka.append(max(0.0, now_wall - produced))
        observe_many(self._metrics.sensor_to_commit, ages)
        observe_many(self._metrics.kafka_to_commit, in_kafka)
        self._metrics.processed.inc(stored)
        self._metrics.rows_inserted.inc(inserted)
        self._metrics.duplicates.inc(max(0, stored - inserted))
        self._metrics.batch_size.observe(len(rows))
        return refused

    def _write(self, rows: Sequence[V]) -> tuple[int, list[Rejection]]:
        """Write rows in one transaction; on a data error isolate the rows the database refuses.
        Returns (new rows, or -1 after the row-by-row path; the refused rows)."""
        try:
            return self._store.write(rows), []
        except Exception as exc:
            if not is_data_error(exc):
                raise _transient(exc) from exc
            self._metrics.db_errors.labels("data").inc()
            logger.warning("batch rejected by the database ({}); isolating bad rows", exc)
        try:
            results = self._store.write_one_by_one(rows)
        except Exception as exc:
            raise _transient(exc) from exc
        refused = [
            Rejection(i, DeadLetterReason.DATABASE_REJECTED, str(err).strip())
            for i, err in enumerate(results)
            if err is not None
        ]
        return -1, refused
