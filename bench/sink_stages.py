"""The sink's CPU a row, stage by stage, in this process (no stack needed): Avro decoding with and
without logical types, the row tuple, COPY text, the one-pass binary encoding, the transcoding
of the Avro body straight to binary COPY (decoding and encoding in one), and the whole consumer
loop over in-memory messages (no Kafka, no database) on each path. Printed by
``make bench BENCH=sink`` before the stack part; best of three interleaved passes over the same
readings.
"""

from __future__ import annotations

import io
import json
import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro
from prometheus_client import CollectorRegistry

from iot_pipeline.config import load_settings
from iot_pipeline.kafka.consumer import FramedAvroDecoder
from iot_pipeline.schemas import READING_SCHEMA_FILE, load_schema
from iot_pipeline.simulator import service as simulator
from iot_pipeline.sink.decoding import TranscodingDecoder
from iot_pipeline.sink.metrics import SinkMetrics
from iot_pipeline.sink.service import SinkService
from iot_pipeline.sink.step import BINARY_ROWS, TUPLE_ROWS, RowFormat
from iot_pipeline.storage.pgbinary import copy_data, encode_row
from iot_pipeline.storage.reading_copy import encode_reading
from iot_pipeline.storage.reading_transcode import transcode_reading
from iot_pipeline.storage.rows import copy_line, reading_to_row
from iot_pipeline.storage.writer import copy_payload

READINGS = 20_000
PASSES = 3


class _Schema:
    schema_type = "AVRO"

    def __init__(self, text: str) -> None:
        self.schema_str = text


class _Registry:
    def __init__(self, schema: dict[str, Any]) -> None:
        self._text = json.dumps(schema)

    def get_schema(self, schema_id: int) -> _Schema:
        return _Schema(self._text)


class _Message:
    def __init__(self, partition: int, offset: int, value: bytes) -> None:
        self._partition, self._offset, self._value = partition, offset, value

    def topic(self) -> str:
        return "readings"

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        return (1, int(time.time() * 1000))

    def error(self) -> None:
        return None


class _Consumer:
    """Hands out the messages, then sets ``stop``."""

    def __init__(self, messages: list[_Message], stop: threading.Event) -> None:
        self._pending, self._stop = messages, stop

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        return None

    def consume(self, num_messages: int, timeout: float) -> list[_Message]:
        taken, self._pending = self._pending[:num_messages], self._pending[num_messages:]
        if not taken:
            self._stop.set()
        return taken

    def commit(self, offsets: Any, asynchronous: bool) -> None:
        return None

    def assignment(self) -> list[Any]:
        return []

    def close(self) -> None:
        return None


class _Producer:
    """The dead-letter producer: nothing is dead-lettered here."""

    def flush(self, timeout: float) -> int:
        return 0


class _Store:
    """Builds what the database store would send (COPY text or binary), sends nothing."""

    def __init__(self, binary: bool) -> None:
        self._binary = binary

    def write(self, rows: Sequence[Any]) -> int:
        if self._binary:
            copy_data([r.data for r in rows])
        else:
            copy_payload(rows).encode()
        return len(rows)

    def write_one_by_one(self, rows: Sequence[Any]) -> list[Exception | None]:
        raise AssertionError("no row is refused here")


def _readings() -> tuple[dict[str, Any], list[bytes]]:
    settings = load_settings(iot_num_devices=50, iot_data_interval_sec=0.0)
    intervals, source = simulator.kafka_source(settings, random.Random(7))
    schema = json.loads(load_schema(READING_SCHEMA_FILE))
    parsed = fastavro.parse_schema(schema)
    start = datetime.now(UTC) - timedelta(hours=6)
    values = []
    for i in range(READINGS):
        now = start + timedelta(milliseconds=10 * (i // len(intervals)))
        _, record, _, _ = source(i % len(intervals), now)
        body = io.BytesIO()
        fastavro.schemaless_writer(body, parsed, record)
        values.append(b"\x00\x00\x00\x00\x01" + body.getvalue())
    return schema, values


def _cpu_us(work: Callable[[], object], count: int) -> float:
    started = time.process_time()
    work()
    return (time.process_time() - started) / count * 1e6


def _best_interleaved(stages: dict[str, Callable[[], object]], count: int) -> dict[str, float]:
    """The best of PASSES passes per stage; each pass runs every stage once, so a change in the
    shared machine's load falls on all stages alike."""
    best = dict.fromkeys(stages, float("inf"))
    for _ in range(PASSES):
        for name, work in stages.items():
            best[name] = min(best[name], _cpu_us(work, count))
    return best


def _loop(
    schema: dict[str, Any],
    values: list[bytes],
    row_format: RowFormat[Any],
    transcode: bool = False,
) -> Callable[[], None]:
    binary = row_format is BINARY_ROWS

    def once() -> None:
        registry = _Registry(schema)
        stop = threading.Event()
        messages = [_Message(i % 6, i // 6, v) for i, v in enumerate(values)]
        service = SinkService(
            _Consumer(messages, stop),  # type: ignore[arg-type]
            TranscodingDecoder(registry)
            if transcode
            else FramedAvroDecoder(registry, millis_as_int=binary),
            _Store(binary),
            _Producer(),  # type: ignore[arg-type]
            topic="readings",
            dlq_topic="dlq",
            batch_size=5000,
            commit_interval=5.0,
            metrics=SinkMetrics(CollectorRegistry()),
            row_format=row_format,
        )
        service.run(stop)

    return once


def stage_costs() -> dict[str, float]:
    """CPU microseconds a reading for each stage and both whole loops."""
    schema, values = _readings()
    with_types = FramedAvroDecoder(_Registry(schema))
    without = FramedAvroDecoder(_Registry(schema), millis_as_int=True)
    records = [with_types.decode(v) for v in values]
    raw = [without.decode(v) for v in values]
    rows = [reading_to_row(r) for r in records]
    stages: dict[str, Callable[[], object]] = {
        "decode, timestamp as datetime (earlier)": lambda: [with_types.decode(v) for v in values],
        "decode, timestamp as int (binary path)": lambda: [without.decode(v) for v in values],
        "row tuple (reading_to_row)": lambda: [reading_to_row(r) for r in records],
        "COPY text of the row (copy_line)": lambda: [copy_line(r) for r in rows],
        "binary tuple in one pass (encode_reading)": lambda: [encode_reading(r) for r in raw],
        "binary tuple the general way": lambda: [encode_row(reading_to_row(r)) for r in raw],
        "decode + binary tuple (fastavro, encode_reading)": lambda: [
            encode_reading(without.decode(v)) for v in values
        ],
        "transcode body to binary tuple (one pass)": lambda: [
            transcode_reading(v, 5) for v in values
        ],
        "whole loop, COPY text (earlier path)": _loop(schema, values, TUPLE_ROWS),
        "whole loop, binary COPY, fastavro + encode": _loop(schema, values, BINARY_ROWS),
        "whole loop, binary COPY, transcoded (default)": _loop(
            schema, values, BINARY_ROWS, transcode=True
        ),
    }
    return _best_interleaved(stages, len(values))


def print_stage_costs() -> None:
    print(
        f"CPU a reading in this process, best of {PASSES} interleaved passes over "
        f"{READINGS:,} readings:"
    )
    for name, micros in stage_costs().items():
        print(f"  {name + ':':<50}{micros:>7.1f} us")


if __name__ == "__main__":
    print_stage_costs()
