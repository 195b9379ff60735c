"""The archiver's step on the consumer loop: readings -> Arrow buffers -> Iceberg commits.

Exactly once, the way Iceberg's Kafka Connect sink does it: the table, not the consumer group, is
the record of what was archived. Every Iceberg commit carries the Kafka offsets that follow its
rows (`LakeWriter.commit`); on partition assignment the step reads them from the table's latest
snapshot and the loop seeks there (`on_assign`; a partition the table never saw starts at the
beginning of the topic). The loop's own offset commits only follow the archiver's buffer (for the
group's lag metrics); a crash anywhere re-reads from the table's position, so no reading is lost
and none is archived twice. As a second guard, a message below the position the step expects
for its partition (a replay after a seek) is skipped.

Rolling: `write` converts each loop batch to Arrow into per-partition buffers; the roll policy
(LAKE_ROLL_BYTES, LAKE_ROLL_INTERVAL) decides when the buffers become one Iceberg commit. The
commit happens at the start of a later `write` or in `after_cycle` (both after the loop
delivered the dead letters of what is buffered), and in `close` on stop. While the catalog or the
store fails, `write` raises Transient so the loop pauses consumption and retries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from confluent_kafka import OFFSET_BEGINNING, Message, TopicPartition
from loguru import logger

from iot_pipeline.kafka.consumer import position, schema_id_of
from iot_pipeline.lake.metrics import ArchiverMetrics
from iot_pipeline.lake.offsets import lag
from iot_pipeline.lake.records import bad_records, to_batch
from iot_pipeline.lake.roll import RollPolicy
from iot_pipeline.lake.schema import UnsupportedAvroType
from iot_pipeline.lake.writer import LakeWriter
from iot_pipeline.stream import Batch, Rejected, Rejection, StepBase, Transient

LAG_EVERY_S = 10.0
ASSIGN_ATTEMPTS = 5
REASON_UNSUPPORTED = "unsupported_schema"
REASON_INVALID = "invalid_reading"


@dataclass(frozen=True, slots=True)
class Reading:
    schema_id: int
    record: Mapping[str, Any]


@dataclass
class Pending:
    """A partition's converted rows since the last commit, and the position after them."""

    next_offset: int | None  # None: the table has nothing of this partition yet
    batches: list[pa.RecordBatch] = field(default_factory=list)


def is_transient(exc: BaseException) -> bool:
    """Catalog or store failures worth retrying (unreachable, busy, a lost commit race)."""
    from pyiceberg.exceptions import CommitFailedException, ServerError, ServiceUnavailableError
    from sqlalchemy.exc import OperationalError

    return isinstance(
        exc,
        CommitFailedException
        | ServerError
        | ServiceUnavailableError
        | OperationalError
        | OSError
        | ConnectionError
        | TimeoutError,
    )


class ArchiveStep(StepBase[Reading]):
    def __init__(
        self,
        writer: LakeWriter,
        writer_schema: Callable[[int], dict[str, Any]],
        roll: RollPolicy,
        metrics: ArchiverMetrics,
        *,
        seek: Callable[[TopicPartition], None] = lambda tp: None,
        watermarks: Callable[[Sequence[int]], Mapping[int, tuple[int, int]]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._sleep = sleep
        self._writer = writer
        self._writer_schema = writer_schema
        self._roll = roll
        self._metrics = metrics
        self._seek = seek
        self._watermarks = watermarks
        self._clock = clock
        self._wall = wall_clock
        self._pending: dict[int, Pending] = {}
        self._believed: dict[int, int | None] = {}
        self._schemas: dict[int, str | None] = {}  # schema id -> None (fine) or why not
        self._arrow: pa.Schema = writer.arrow_schema()
        self._lag_due = 0.0

    # --- the loop's hooks ----------------------------------------------------------------------
    def transform(self, message: Message, record: Mapping[str, Any]) -> Reading:
        if not isinstance(record, Mapping):
            raise Rejected(REASON_INVALID, "the value is not a record")
        # The value decoded, so it is framed: schema_id_of does not raise here.
        return Reading(schema_id_of(message.value() or b""), record)

    def write(self, batch: Batch[Message, Reading]) -> Sequence[Rejection]:
        if self._roll.is_due(self._clock()):
            self._commit_or_raise()
        try:
            return self._absorb(batch)
        except Exception as exc:
            if is_transient(exc):
                raise Transient(f"catalog: {exc}") from exc
            raise

    def on_assign(self, partitions: Sequence[TopicPartition]) -> Sequence[TopicPartition]:
        table = self._table_offsets_patiently()
        chosen = []
        for tp in partitions:
            position = table.get(tp.partition)
            self._believed[tp.partition] = position
            self._pending[tp.partition] = Pending(position)
            start = OFFSET_BEGINNING if position is None else position
            chosen.append(TopicPartition(tp.topic, tp.partition, start))
        logger.info(
            "starting from the table's offsets {}", {tp.partition: tp.offset for tp in chosen}
        )
        return chosen

    def _table_offsets_patiently(self) -> dict[int, int]:
        for attempt in range(1, ASSIGN_ATTEMPTS + 1):
            try:
                return self._writer.table_offsets()
            except Exception as exc:
                if not is_transient(exc) or attempt == ASSIGN_ATTEMPTS:
                    raise
                logger.warning("catalog unavailable ({}); retry {}", exc, attempt)
                self._sleep(float(attempt))
        raise AssertionError("unreachable")

    def on_revoke(self, partitions: Sequence[TopicPartition]) -> None:
        for tp in partitions:
            self._pending.pop(tp.partition, None)
            self._believed.pop(tp.partition, None)
        self._update_buffer_gauges()

    def poll_timeout(self, now: float) -> float | None:
        return self._roll.wait_time(now, 1.0)

    def after_cycle(self) -> None:
        now = self._clock()
        if self._roll.is_due(now):
            try:
                self._commit()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                logger.error("commit failed ({}); retried with the next batch", exc)
        if now >= self._lag_due:
            self._lag_due = now + LAG_EVERY_S
            self._update_lag()

    def close(self) -> None:
        """On stop, after the loop returned: commit what is buffered (best effort: what is not
        committed is re-read from the table's position on the next start)."""
        self._seek = lambda tp: None  # the consumer is closed
        try:
            self._commit()  # a no-op when no partition moved since the last commit
        except Exception as exc:
            logger.error("final commit failed ({}); the buffer is re-read on next start", exc)

    # --- buffering -----------------------------------------------------------------------------
    def _absorb(self, batch: Batch[Message, Reading]) -> list[Rejection]:
        """Convert the batch into the partition buffers (all or nothing); the rejections are
        readings that cannot be archived."""
        rejections: list[Rejection] = []
        keep: dict[int, list[tuple[int, Mapping[str, Any]]]] = {}
        for index, (message, value) in enumerate(
            zip(batch.value_messages, batch.values, strict=True)
        ):
            reason = self._schema_problem(value.schema_id)
            if reason is not None:
                rejections.append(Rejection(index, REASON_UNSUPPORTED, reason))
                continue
            keep.setdefault(position(message)[1], []).append((index, value.record))
        positions = self._positions(batch.messages)
        additions: dict[int, pa.RecordBatch] = {}
        for partition, items in keep.items():
            wanted = self._not_yet_archived(partition, batch.value_messages, items)
            converted, bad = self._convert(wanted)
            rejections.extend(Rejection(i, REASON_INVALID, why) for i, why in bad)
            if converted is not None:
                additions[partition] = converted
        now = self._clock()
        for partition, next_offset in positions.items():
            pending = self._pending.setdefault(partition, Pending(self._believed.get(partition)))
            if partition in additions:
                pending.batches.append(additions[partition])
                self._roll.add(additions[partition].nbytes, now)
            elif next_offset != pending.next_offset:
                self._roll.add(0, now)  # only dead letters: their offsets still need a commit
            pending.next_offset = max(next_offset, pending.next_offset or 0)
        self._update_buffer_gauges()
        return rejections

    def _schema_problem(self, schema_id: int) -> str | None:
        if schema_id not in self._schemas:
            try:
                added = self._writer.evolve(self._writer_schema(schema_id))
                self._schemas[schema_id] = None
                if added:
                    self._metrics.evolutions.inc(len(added))
                    self._arrow = self._writer.arrow_schema()
            except UnsupportedAvroType as exc:
                self._schemas[schema_id] = f"writer schema {schema_id}: {exc}"
        return self._schemas[schema_id]

    def _positions(self, messages: Sequence[Message]) -> dict[int, int]:
        highest: dict[int, int] = {}
        for message in messages:
            _topic, partition, offset = position(message)
            highest[partition] = max(highest.get(partition, -1), offset)
        return {p: offset + 1 for p, offset in highest.items()}

    def _not_yet_archived(
        self,
        partition: int,
        messages: Sequence[Message],
        items: list[tuple[int, Mapping[str, Any]]],
    ) -> list[tuple[int, Mapping[str, Any]]]:
        pending = self._pending.get(partition)
        floor = pending.next_offset if pending is not None else None
        if floor is None:
            return items
        kept = [(i, r) for i, r in items if position(messages[i])[2] >= floor]
        self._metrics.skipped.inc(len(items) - len(kept))
        return kept

    def _convert(
        self, items: list[tuple[int, Mapping[str, Any]]]
    ) -> tuple[pa.RecordBatch | None, list[tuple[int, str]]]:
        if not items:
            return None, []
        records = [dict(r) for _, r in items]
        try:
            return to_batch(records, self._arrow), []
        except (pa.ArrowException, TypeError, ValueError):
            bad = bad_records(records, self._arrow)
            bad_at = {i for i, _ in bad}
            good = [r for i, r in enumerate(records) if i not in bad_at]
            converted = to_batch(good, self._arrow) if good else None
            return converted, [(items[i][0], why) for i, why in bad]

    # --- committing ----------------------------------------------------------------------------
    def _commit_or_raise(self) -> None:
        try:
            self._commit()
        except Exception as exc:
            if is_transient(exc):
                raise Transient(f"commit: {exc}") from exc
            raise

    def _commit(self) -> None:
        ours: dict[int, int] = {}
        for p, pending in self._pending.items():
            offset = pending.next_offset
            if offset is not None and offset != self._believed.get(p):
                ours[p] = offset
        if not ours:
            self._roll.reset()
            return
        try:
            result = self._writer.commit(
                {p: self._pending[p].batches for p in ours}, ours, self._believed
            )
        except Exception:
            self._metrics.commits.labels("failed").inc()
            raise
        self._metrics.commits.labels("ok").inc()
        self._metrics.commit_duration.observe(result.seconds)
        self._metrics.rows_archived.inc(result.rows)
        self._metrics.files_written.inc(result.files)
        self._metrics.last_commit.set(self._wall())
        for partition in ours:
            position = result.offsets.get(partition)
            self._believed[partition] = position
            self._pending[partition] = Pending(position)
        for partition in result.stale:
            self._metrics.stale.inc()
            logger.error(
                "partition {} was committed by another archiver; re-reading from {}",
                partition,
                result.offsets.get(partition),
            )
            position = result.offsets.get(partition, OFFSET_BEGINNING)
            self._seek(TopicPartition(self._writer.topic, partition, position))
        self._roll.reset()
        self._update_buffer_gauges()
        logger.info(
            "committed {} rows in {} files ({:.2f}s)", result.rows, result.files, result.seconds
        )

    # --- gauges --------------------------------------------------------------------------------
    def _update_buffer_gauges(self) -> None:
        batches = [b for p in self._pending.values() for b in p.batches]
        self._metrics.buffered_rows.set(sum(b.num_rows for b in batches))
        self._metrics.buffered_bytes.set(sum(b.nbytes for b in batches))

    def _update_lag(self) -> None:
        if self._watermarks is None or not self._believed:
            return
        try:
            marks = self._watermarks(sorted(self._believed))
        except Exception as exc:
            logger.warning("watermarks unavailable: {}", exc)
            return
        table = {p: o for p, o in self._believed.items() if o is not None}
        self._metrics.lag.set(lag(marks, table))
