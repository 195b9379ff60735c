"""The sink's transcoding decoder keeps the decoder's contract: the same rows, rejections and
errors as fastavro + encode_reading, whatever the writer schema; poison still poison, an
unreachable registry still retried; the loop dead-letters and isolates rows as before."""

from __future__ import annotations

import io
import json
import random
import struct
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import fastavro
import pytest
from confluent_kafka.schema_registry import Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError
from prometheus_client import CollectorRegistry

from iot_pipeline.kafka import consumer as kafka_consumer
from iot_pipeline.kafka.consumer import FramedAvroDecoder, is_transient_decode_error
from iot_pipeline.retry import Backoff
from iot_pipeline.schemas.records import InvalidReading
from iot_pipeline.schemas.registry import READING_SCHEMA_FILE, load_schema
from iot_pipeline.sink.decoding import TranscodedReading, TranscodingDecoder, encoded_row
from iot_pipeline.sink.metrics import SinkMetrics
from iot_pipeline.sink.service import SinkService
from iot_pipeline.sink.step import BINARY_ROWS
from iot_pipeline.storage.reading_copy import EncodedRow, encode_reading
from iot_pipeline.storage.rows import reading_to_row
from iot_pipeline.stream.decoding import Poison, decode_with_retry
from tests.unit.sink.test_service_loop import (
    TOPIC,
    Clock,
    FakeConsumer,
    FakeMessage,
    FakeProducer,
    PgError,
)
from tests.unit.storage.test_reading_copy import T0_MS, random_record
from tests.unit.storage.test_reading_transcode import FULL, MICROS, WIDE

SCHEMA: dict[str, Any] = json.loads(load_schema(READING_SCHEMA_FILE))
# A compatible evolution the transcoder was not written for, whose bodies it would read without
# noticing: the last two fields swapped (readers match fields by name).
EVOLVED: dict[str, Any] = {**SCHEMA, "fields": [*SCHEMA["fields"][:-2], *SCHEMA["fields"][:-3:-1]]}
CURRENT, NEWER, JSON_SCHEMA, IN_MICROS = 7, 8, 9, 10


class Registry:
    def __init__(self, failures: Sequence[Exception] = ()) -> None:
        self.calls: list[int] = []
        self.failures = list(failures)

    def get_schema(self, schema_id: int) -> Schema:
        self.calls.append(schema_id)
        if self.failures:
            raise self.failures.pop(0)
        if schema_id == CURRENT:
            return Schema(json.dumps(SCHEMA), "AVRO")
        if schema_id == NEWER:
            return Schema(json.dumps(EVOLVED), "AVRO")
        if schema_id == IN_MICROS:
            return Schema(json.dumps(MICROS), "AVRO")
        if schema_id == JSON_SCHEMA:
            return Schema('{"type": "object"}', "JSON")
        raise SchemaRegistryError(404, 40403, "Schema not found")


def framed(record: dict[str, Any], schema_id: int = CURRENT) -> bytes:
    schema = WIDE if schema_id == CURRENT else fastavro.parse_schema(EVOLVED)
    body = io.BytesIO()
    fastavro.schemaless_writer(body, schema, record)
    return b"\x00" + struct.pack(">I", schema_id) + body.getvalue()


def general(value: bytes) -> EncodedRow:
    """The earlier path: fastavro without logical types, then encode_reading."""
    return encode_reading(FramedAvroDecoder(Registry(), millis_as_int=True).decode(value))


def test_readings_of_the_current_schema_are_transcoded_to_the_general_rows() -> None:
    decoder = TranscodingDecoder(Registry())
    rng = random.Random(5)
    for i, record in enumerate([FULL, *(random_record(rng, i) for i in range(500))]):
        value = framed(record)
        decoded = decoder(FakeMessage(0, i, value))  # type: ignore[arg-type]
        assert type(decoded) is TranscodedReading
        row, expected = encoded_row(decoded), general(value)
        assert (row.data, row.at) == (expected.data, expected.at)
        assert row.record is decoded
        assert encode_reading(dict(decoded)).data == expected.data  # (NaN != NaN in a dict)
        assert repr(reading_to_row(decoded)) == repr(reading_to_row(expected.record))


def test_fields_are_decoded_only_when_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []
    reader = kafka_consumer.fastavro.schemaless_reader

    def counting(*args: Any) -> Any:
        reads.append(1)
        return reader(*args)

    monkeypatch.setattr(kafka_consumer.fastavro, "schemaless_reader", counting)
    decoded = TranscodingDecoder(Registry()).decode(framed(FULL))
    assert encoded_row(decoded).data == general(framed(FULL)).data
    reads.clear()
    assert decoded["device_id"] == FULL["device_id"] and decoded.get("unit") == FULL["unit"]
    assert len(decoded) == len(FULL) and reads == [1]  # decoded once, on first use


def test_another_writer_schema_is_decoded_the_general_way() -> None:
    registry = Registry()
    decoder = TranscodingDecoder(registry)
    for i in range(3):
        value = framed({**FULL, "timestamp": T0_MS + i, "rssi": -1}, NEWER)
        decoded = decoder.decode(value)
        assert type(decoded) is dict and decoded["rssi"] == -1
        assert encoded_row(decoded).data == general(value).data
    assert registry.calls == [NEWER]  # each schema fetched (and judged) once


def test_a_timestamp_written_in_microseconds_is_stored_at_its_time() -> None:
    """timestamp-micros has the packaged schema's canonical form: neither the transcoder nor the
    general path may read its microseconds as milliseconds."""
    millis = 157_766_400_000  # 1975: its microseconds are in range as milliseconds too
    body = io.BytesIO()
    micros = {**FULL, "timestamp": millis * 1000}  # an int is written as it is
    fastavro.schemaless_writer(body, fastavro.parse_schema(MICROS), micros)
    value = b"\x00" + struct.pack(">I", IN_MICROS) + body.getvalue()
    for decoder in (
        TranscodingDecoder(Registry()),
        FramedAvroDecoder(Registry(), millis_as_int=True),
    ):
        row = encoded_row(decoder.decode(value))
        assert row.data == encode_reading({**FULL, "timestamp": millis}).data
        assert row.at == millis / 1000


@pytest.mark.parametrize(
    "changes",
    [{"device_id": "a\x00b"}, {"device_id": " "}, {"rssi": 2**31}, {"timestamp": 2**53}],
)
def test_invalid_readings_are_rejected_with_the_general_reason(changes: dict[str, Any]) -> None:
    value = framed({**FULL, **changes})
    decoded = TranscodingDecoder(Registry()).decode(value)
    with pytest.raises(InvalidReading) as expected:
        general(value)
    with pytest.raises(InvalidReading) as got:
        encoded_row(decoded)
    assert got.value.reason == expected.value.reason


def _poison(decode: Any, value: bytes) -> str:
    with pytest.raises(Poison) as raised:
        decode_with_retry(
            decode,
            FakeMessage(0, 0, value),  # type: ignore[arg-type]
            backoff=Backoff(),
            wait=lambda seconds: None,
            stopping=lambda: False,
        )
    return str(raised.value)


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"\x01\x00\x00\x00\x07" + framed(FULL)[5:],  # wrong magic byte
        framed(FULL)[:-3],  # truncated
        framed(FULL)[:5] + b"\x02\xff" + framed(FULL)[7:],  # not UTF-8
        framed(FULL, 404),  # unknown schema id
        framed(FULL, JSON_SCHEMA),
    ],
)
def test_poison_is_poison_with_the_same_reason(value: bytes) -> None:
    reason = _poison(FramedAvroDecoder(Registry(), millis_as_int=True), value)
    assert _poison(TranscodingDecoder(Registry()), value) == reason


def test_an_unreachable_registry_is_retried_then_transcodes() -> None:
    registry = Registry([ConnectionError("refused"), SchemaRegistryError(503, 50301, "down")])
    waits: list[float] = []
    decoded = decode_with_retry(
        TranscodingDecoder(registry),
        FakeMessage(0, 0, framed(FULL)),  # type: ignore[arg-type]
        backoff=Backoff(initial=0.5, maximum=1.0),
        wait=waits.append,
        stopping=lambda: False,
    )
    assert len(waits) == 2 and registry.calls == [CURRENT] * 3
    assert type(decoded) is TranscodedReading
    assert is_transient_decode_error(ConnectionError())


def test_an_empty_value_is_none() -> None:
    assert TranscodingDecoder(Registry())(FakeMessage(0, 0, None)) is None  # type: ignore[arg-type]


class BinaryStore:
    """Refuses the first batch as a data error; row by row, refuses the rows of device "bad"
    (reading the records' fields as the database store does)."""

    def __init__(self, events: list[Any]) -> None:
        self.events = events
        self.failed = False
        self.stored: list[Any] = []

    def write(self, rows: Sequence[EncodedRow]) -> int:
        if not self.failed:
            self.failed = True
            self.events.append(("write-failed", len(rows)))
            raise PgError("23514")
        self.events.append(("write", len(rows)))
        return len(rows)

    def write_one_by_one(self, rows: Sequence[EncodedRow]) -> list[Exception | None]:
        self.events.append(("write-one-by-one", len(rows)))
        results: list[Exception | None] = []
        for row in (reading_to_row(r.record) for r in rows):
            refused = row[0] == "bad"
            results.append(PgError("23514") if refused else None)
            if not refused:
                self.stored.append(row)
        return results


def _readings(values: list[bytes | None]) -> tuple[list[Any], BinaryStore, FakeProducer]:
    events: list[Any] = []
    clock = Clock()
    stop = threading.Event()
    consumer = FakeConsumer(
        [FakeMessage(0, i, v) for i, v in enumerate(values)], events, clock, stop
    )
    store, producer = BinaryStore(events), FakeProducer(events)
    SinkService(
        consumer,  # type: ignore[arg-type]
        TranscodingDecoder(Registry()),
        store,
        producer,  # type: ignore[arg-type]
        topic=TOPIC,
        dlq_topic="dlq",
        batch_size=10,
        commit_interval=5.0,
        metrics=SinkMetrics(CollectorRegistry()),
        row_format=BINARY_ROWS,
        backoff=Backoff(initial=0.5, maximum=1.0),
        clock=clock,
    ).run(stop)
    return events, store, producer


def test_the_sink_loop_dead_letters_and_isolates_rows_as_before() -> None:
    good: Mapping[str, Any] = {**FULL, "timestamp": T0_MS}
    events, store, producer = _readings(
        [
            framed({**good, "device_id": "one"}),
            b"\x00garbage",
            framed({**good, "unit": "\x00"}),
            framed({**good, "device_id": "bad"}),
            framed({**good, "device_id": "newer"}, NEWER),
            framed(good)[:-2],
            None,
        ]
    )
    assert events == [
        ("write-failed", 3),
        ("write-one-by-one", 3),
        ("dlq", "deserialization"),  # poison first, in offset order
        ("dlq", "invalid_reading"),
        ("dlq", "deserialization"),
        ("dlq", "deserialization"),
        ("dlq", "database_rejected"),  # then what the database refused
        ("commit", [(0, 7)]),
        ("close",),
    ]
    assert [row[0] for row in store.stored] == ["one", "newer"]
    assert producer.produced[1][2]["dlq.error"] == b"unit contains a NUL character, which " + (
        b"PostgreSQL text cannot hold"
    )
