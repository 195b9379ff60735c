"""The archiver's step with in-memory messages and a real embedded Iceberg table (unit level:
the consumer loop itself is tested in tests/unit/stream; the real stack in tests/e2e/lake)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, TopicPartition
from prometheus_client import CollectorRegistry

from iot_pipeline.config import Settings
from iot_pipeline.lake.catalog import open_catalog, open_table
from iot_pipeline.lake.metrics import ArchiverMetrics
from iot_pipeline.lake.roll import RollPolicy
from iot_pipeline.lake.schema import contract_avro_schema
from iot_pipeline.lake.step import REASON_INVALID, REASON_UNSUPPORTED, ArchiveStep, Reading
from iot_pipeline.lake.writer import LakeWriter
from iot_pipeline.stream import Batch, Transient
from tests.unit.lake.conftest import reading

TOPIC = "readings"
V1, V2, BAD = 1, 2, 3


def _v2_schema() -> dict[str, Any]:
    avro = copy.deepcopy(contract_avro_schema())
    avro["fields"].append({"name": "air_quality", "type": ["null", "double"], "default": None})
    return avro


SCHEMAS = {
    V1: contract_avro_schema(),
    V2: _v2_schema(),
    BAD: {"type": "record", "name": "X", "fields": [{"name": "x", "type": ["int", "string"]}]},
}


class Msg:
    def __init__(self, partition: int, offset: int, schema_id: int = V1) -> None:
        self._p, self._o = partition, offset
        self._value = b"\x00" + schema_id.to_bytes(4, "big") + b"body"

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def value(self) -> bytes:
        return self._value


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Harness:
    def __init__(self, settings: Settings, roll_bytes: int = 10**9, roll_age: float = 60.0):
        self.settings = settings
        self.clock = Clock()
        self.metrics = ArchiverMetrics(CollectorRegistry())
        self.seeks: list[TopicPartition] = []
        self.marks: dict[int, tuple[int, int]] = {}
        self.writer = LakeWriter(open_table(open_catalog(settings), settings), TOPIC, "archiver")
        self.step = ArchiveStep(
            self.writer,
            SCHEMAS.__getitem__,
            RollPolicy(roll_bytes, roll_age),
            self.metrics,
            seek=self.seeks.append,
            watermarks=lambda parts: {p: self.marks[p] for p in parts},
            clock=self.clock,
            wall_clock=lambda: 1_700_000_000.0,
            sleep=lambda s: None,
        )

    def assign(self, *partitions: int) -> dict[int, int]:
        chosen = self.step.on_assign([TopicPartition(TOPIC, p) for p in partitions])
        return {tp.partition: tp.offset for tp in chosen}

    def batch(self, items: Sequence[tuple[Msg, dict[str, Any]]]) -> Batch[Any, Reading]:
        batch: Batch[Any, Reading] = Batch()
        for message, record in items:
            batch.add(self.clock.now, message, self.step.transform(message, record))
        return batch

    def feed(self, partition: int, offsets: range, schema_id: int = V1, **extra: Any) -> list:
        items = [
            (Msg(partition, o, schema_id), reading(o, f"dev-{partition}", **extra)) for o in offsets
        ]
        return list(self.step.write(self.batch(items)))

    def rows(self) -> int:
        return self.writer.table.refresh().scan().to_arrow().num_rows


@pytest.fixture
def harness(lake_settings: Settings) -> Harness:
    return Harness(lake_settings)


def test_an_empty_table_starts_every_partition_at_the_beginning(harness: Harness) -> None:
    assert harness.assign(0, 1) == {0: OFFSET_BEGINNING, 1: OFFSET_BEGINNING}


def test_rows_wait_for_the_roll_then_commit_with_their_offsets(harness: Harness) -> None:
    harness.assign(0, 1)
    assert harness.feed(0, range(0, 3)) == []
    assert harness.feed(1, range(10, 12)) == []
    harness.step.after_cycle()
    assert harness.rows() == 0  # not due yet
    harness.clock.now += 60.0
    harness.step.after_cycle()
    assert harness.rows() == 5
    assert harness.writer.table_offsets() == {0: 3, 1: 12}
    assert harness.metrics.rows_archived._value.get() == 5
    assert harness.metrics.files_written._value.get() >= 1
    assert harness.metrics.last_commit._value.get() == 1_700_000_000.0


def test_the_roll_by_size_commits_at_the_next_write(lake_settings: Settings) -> None:
    harness = Harness(lake_settings, roll_bytes=1)
    harness.assign(0)
    harness.feed(0, range(0, 2))
    assert harness.rows() == 0
    harness.feed(0, range(2, 3))  # the buffer was due: committed before taking this batch
    assert harness.rows() == 2
    harness.step.close()
    assert harness.rows() == 3
    assert harness.writer.table_offsets() == {0: 3}


def test_a_restart_resumes_from_the_table_and_skips_what_it_holds(
    lake_settings: Settings,
) -> None:
    first = Harness(lake_settings)
    first.assign(0)
    first.feed(0, range(0, 4))
    first.step.close()
    first.feed(0, range(4, 6))  # buffered, never committed: the "crash"
    second = Harness(lake_settings)
    assert second.assign(0) == {0: 4}
    # the broker may still deliver from before the position (a replay): skipped, not duplicated
    second.feed(0, range(2, 8))
    second.step.close()
    assert second.rows() == 8
    assert second.metrics.skipped._value.get() == 2
    keys = second.writer.table.scan().to_arrow()["measurement_sequence"].to_pylist()
    assert sorted(keys) == list(range(8))


def test_a_bad_reading_is_rejected_and_its_offset_still_committed(harness: Harness) -> None:
    harness.assign(0)
    batch = harness.batch(
        [(Msg(0, 0), reading(0)), (Msg(0, 1), reading(1, value="warm")), (Msg(0, 2), reading(2))]
    )
    (rejection,) = harness.step.write(batch)
    assert rejection.index == 1 and rejection.reason == REASON_INVALID
    harness.step.close()
    assert harness.rows() == 2 and harness.writer.table_offsets() == {0: 3}


def test_a_batch_of_dead_letters_only_still_moves_the_offsets(harness: Harness) -> None:
    harness.assign(0)
    batch = harness.batch([(Msg(0, 5), reading(0, value="warm"))])
    assert len(harness.step.write(batch)) == 1
    harness.clock.now += 60.0
    harness.step.after_cycle()
    assert harness.writer.table_offsets() == {0: 6} and harness.rows() == 0


def test_a_newer_writer_schema_evolves_the_table(harness: Harness) -> None:
    harness.assign(0)
    harness.feed(0, range(0, 2))
    assert harness.feed(0, range(2, 4), schema_id=V2, air_quality=4.5) == []
    harness.step.close()
    table = harness.writer.table.refresh().scan().to_arrow().sort_by("measurement_sequence")
    assert table["air_quality"].to_pylist() == [None, None, 4.5, 4.5]
    assert harness.metrics.evolutions._value.get() == 1


def test_an_unsupported_writer_schema_is_dead_lettered(harness: Harness) -> None:
    harness.assign(0)
    rejections = harness.feed(0, range(0, 2), schema_id=BAD)
    assert [r.reason for r in rejections] == [REASON_UNSUPPORTED] * 2


def test_a_failing_catalog_makes_write_transient_and_keeps_the_buffer(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.assign(0)
    harness.feed(0, range(0, 2))
    harness.clock.now += 60.0
    real_commit = harness.writer.commit

    def down(*args: Any, **kwargs: Any) -> Any:
        raise OSError("warehouse unreachable")

    monkeypatch.setattr(harness.writer, "commit", down)
    with pytest.raises(Transient):
        harness.feed(0, range(2, 3))
    harness.step.after_cycle()  # logged, not raised
    assert harness.metrics.commits.labels("failed")._value.get() == 2
    monkeypatch.setattr(harness.writer, "commit", real_commit)
    harness.feed(0, range(2, 3))  # the loop's retry with the same batch
    harness.step.close()
    assert harness.rows() == 3 and harness.writer.table_offsets() == {0: 3}


def test_revoked_partitions_are_forgotten(harness: Harness) -> None:
    harness.assign(0, 1)
    harness.feed(0, range(0, 2))
    harness.feed(1, range(0, 2))
    harness.step.on_revoke([TopicPartition(TOPIC, 1)])
    harness.step.close()
    assert harness.writer.table_offsets() == {0: 2}
    assert harness.rows() == 2


def test_partitions_another_archiver_committed_are_reread_from_the_table(
    harness: Harness, lake_settings: Settings
) -> None:
    harness.assign(0)
    other = Harness(lake_settings)
    other.assign(0)
    other.feed(0, range(0, 3))
    other.step.close()
    harness.feed(0, range(0, 2))  # a zombie's buffer
    harness.clock.now += 60.0
    harness.step.after_cycle()
    assert harness.rows() == 3
    assert [(tp.partition, tp.offset) for tp in harness.seeks] == [(0, 3)]
    assert harness.metrics.stale._value.get() == 1


def test_lag_is_what_kafka_has_beyond_the_table(harness: Harness) -> None:
    harness.assign(0, 1)
    harness.feed(0, range(0, 4))
    harness.step.close()
    harness.marks = {0: (0, 10), 1: (5, 8)}
    harness.step.after_cycle()
    assert harness.metrics.lag._value.get() == 6 + 3


def test_stopping_commits_offsets_of_dead_letters_only(harness: Harness) -> None:
    harness.assign(0)
    harness.step.write(harness.batch([(Msg(0, 3), reading(0, value="warm"))]))
    harness.step.close()
    assert harness.writer.table_offsets() == {0: 4}


def test_stopping_with_nothing_new_commits_nothing(harness: Harness) -> None:
    harness.assign(0)
    harness.step.close()
    assert harness.writer.table.refresh().current_snapshot() is None
