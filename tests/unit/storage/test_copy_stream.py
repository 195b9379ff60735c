"""The COPY stream: the same text as the whole payload, in chunks of about the size asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from iot_pipeline.storage.rows import reading_to_row
from iot_pipeline.storage.writer import CopyStream, copy_payload


def _rows(count: int) -> list[tuple[object, ...]]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        reading_to_row(
            {
                "device_id": f"d-{i}\tx",  # a tab: escaped in COPY text
                "device_type": "t",
                "timestamp": start + timedelta(seconds=i),
                "value": i / 3,
                "unit": "°C",
                "metadata": {"k": "ä\n"},
            }
        )
        for i in range(count)
    ]


def test_chunks_join_to_the_whole_payload() -> None:
    rows = _rows(500)
    stream = CopyStream(rows)
    chunks = []
    while chunk := stream.read(1000):
        chunks.append(chunk)
    assert b"".join(chunks) == copy_payload(rows).encode()
    assert len(chunks) > 10
    assert all(len(c) >= 1000 for c in chunks[:-1])


def test_read_all_at_once_and_an_empty_batch() -> None:
    rows = _rows(3)
    assert CopyStream(rows).read() == copy_payload(rows).encode()
    assert CopyStream([]).read(100) == b""
