"""Kafka offsets kept in Iceberg snapshot properties: the archive's exactly-once bookkeeping.

Like Iceberg's Kafka Connect sink, every append commits, in the same Iceberg snapshot, the Kafka
position that follows the appended rows: a property `iot-pipeline.kafka-offsets.<topic>.<group>`
whose value is JSON `{"<partition>": <next offset>, ...}`. The rows and the offsets become
visible together or not at all, so after a crash the archiver resumes from exactly where the
table ends. Maintenance commits carry the property forward, and `table_offsets` also looks back
through the current snapshot's ancestors for it.

Fencing: the archiver remembers the offsets it believes the table holds for its partitions; if a
commit finds different ones (another instance committed those partitions after a rebalance), it
must not append them (`stale_partitions`), and re-reads from the table's position instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

PROPERTY_PREFIX = "iot-pipeline.kafka-offsets"


def property_key(topic: str, group: str) -> str:
    return f"{PROPERTY_PREFIX}.{topic}.{group}"


def encode(offsets: Mapping[int, int]) -> str:
    return json.dumps({str(p): offsets[p] for p in sorted(offsets)}, separators=(",", ":"))


def decode(value: str) -> dict[int, int]:
    """The offsets in a property value; ValueError when it is not such a value."""
    data = json.loads(value)
    if not isinstance(data, dict):
        raise ValueError(f"offsets property is not a JSON object: {value[:100]!r}")
    offsets = {}
    for partition, offset in data.items():
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise ValueError(f"offset of partition {partition} is not a count: {offset!r}")
        offsets[int(partition)] = offset
    return offsets


def latest_offsets(summaries: Iterable[Mapping[str, str]], key: str) -> dict[int, int]:
    """The offsets in the first summary (newest first: the current snapshot, then its
    ancestors) that has `key`; empty when none has (a table the archiver never wrote)."""
    for summary in summaries:
        value = summary.get(key)
        if value is not None:
            return decode(value)
    return {}


def merged(table: Mapping[int, int], ours: Mapping[int, int]) -> dict[int, int]:
    """What the next commit records: the table's offsets, ours replacing those we archived."""
    return {**table, **ours}


def stale_partitions(
    table: Mapping[int, int], believed: Mapping[int, int | None], partitions: Iterable[int]
) -> set[int]:
    """Partitions whose offset in the table is not the one we started buffering from: someone
    else committed them meanwhile, so our buffered rows for them must not be appended."""
    return {p for p in partitions if table.get(p) != believed.get(p)}


def next_offsets(last_offsets: Mapping[int, int]) -> dict[int, int]:
    """The position after the last offsets read per partition."""
    return {p: offset + 1 for p, offset in last_offsets.items()}


def lag(watermarks: Mapping[int, tuple[int, int]], table: Mapping[int, int]) -> int:
    """Readings in Kafka the table does not hold yet, summed over partitions; `watermarks` is
    partition -> (low, high). A position before the low watermark (retention dropped those
    readings) counts from the low watermark."""
    return sum(max(0, high - max(low, table.get(p, low))) for p, (low, high) in watermarks.items())
