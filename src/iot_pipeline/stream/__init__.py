"""One consumer framework for every Kafka consumer of the project.

The loop (:class:`ConsumerLoop`) polls, decodes (one decoder, one decode-with-retry policy),
hands each record to the service's *step*, batches the results, lets the step write them,
dead-letters what will never be written, and commits offsets last. Offsets travel with the
data: a :class:`Batch` keeps every message it covers, and its offsets are committed only after
``write`` and the dead letters succeeded. Back-pressure, retries, stopping and rebalances are
the loop's, not the service's.

Why a package of its own rather than more of ``iot_pipeline.kafka``: ``kafka/`` holds client
helpers (configuration, the decoder, the producer, topics, the dead-letter header convention)
that producers and tools use too; the loop builds on them and on the project's retry policy, and
keeping it apart keeps ``kafka/`` a leaf with no service policy in it.

Writing a new consumer (an archiver, an exporter)::

    from iot_pipeline.schemas.registry import registry_client_config
    from iot_pipeline.stream import (
        Batch, ConsumerLoop, DeadLetterQueue, Rejected, Rejection, SizeOrAge, StepBase, Transient,
    )

    class ArchiveStep(StepBase[Row]):
        def transform(self, message, record):          # pure: one decoded record -> one value
            if record.get("device_id") is None:
                raise Rejected("invalid_reading", "device_id is missing")  # -> dead letter
            return to_row(record)

        def write(self, batch: Batch[Message, Row]) -> list[Rejection]:
            try:
                self.table.append(batch.values)         # the only I/O; may be empty batches
            except ConnectionError as exc:
                raise Transient(str(exc)) from exc      # -> pause, back off, write again
            return []                                   # or Rejection(index, reason, detail)

        def on_assign(self, partitions):                # optional: start from your own offsets
            return [TopicPartition(tp.topic, tp.partition, self.stored_offset(tp))
                    for tp in partitions]               # None keeps the committed offsets

    loop = ConsumerLoop(
        Consumer(consumer_config(settings, group_id, SERVICE_NAME)),
        FramedAvroDecoder(SchemaRegistryClient(registry_client_config(settings))),
        ArchiveStep(...),
        topics=[settings.kafka_topic_name],
        policy=SizeOrAge(max_size=5000, max_age=30.0),
        dead_letters=DeadLetterQueue(Producer(producer_config(...)), dlq_topic, SERVICE_NAME),
        observer=ArchiveMetrics(registry),              # counts received/rejected/commits/...
    )
    loop.run(stop_on_signals())                         # SIGTERM: write, commit, close

The pieces:

- :class:`Step` (subclass :class:`StepBase`): ``transform`` (raise :class:`Rejected` for poison),
  ``write`` (raise :class:`Transient` to retry; return :class:`Rejection` for values the
  destination refused), and optional hooks ``on_assign`` (return the offsets to start from:
  the loop seeks there, the way Iceberg's Kafka Connect sink restores offsets kept in its
  snapshots), ``on_revoke``, ``poll_timeout`` (wake up for a timer) and ``after_cycle``.
- :class:`BatchPolicy`: when a batch is written. :class:`WhenCaughtUp` (the sink: SizeOrAge,
  or as soon as the consumer reached the end of its partitions), :class:`SizeOrAge` (full or
  old), :class:`EveryPollWhenCaughtUp` (the alert consumer: each poll, even an empty one, as
  soon as it caught up), :class:`EveryPoll` (each poll after its wait). Pure, clock passed in.
- :class:`LoopObserver`: the loop's events; the service's metrics class implements it next to the
  metrics it declares. :class:`NullObserver` counts nothing.
- :class:`DeadLetterQueue`: produces dead letters with the one header convention of
  :mod:`iot_pipeline.kafka.dead_letter` and waits for them before the commit. Without one, a
  rejected record is logged, counted and skipped.
- :class:`StopPatience`: how long a failing write is retried once a stop was requested.
- ``commit_synchronously``: commit and wait for the broker after every batch (default: only the
  last batch before closing waits; earlier commits are asynchronous, as a lost commit only means
  an idempotent replay).
- ``write_in_background``: ``write`` runs on a thread of its own while the loop reads and
  transforms the next batch (:mod:`iot_pipeline.stream.background`; the sink, whose database
  driver waits with the GIL released). One write in flight at most; order and commit-last are
  unchanged. The step's ``write`` then runs concurrently with its ``transform`` and hooks, so
  whatever they share must be thread-safe.
"""

from iot_pipeline.stream.batching import (
    Batch,
    BatchPolicy,
    BatchView,
    DeadLetter,
    EveryPoll,
    EveryPollWhenCaughtUp,
    SizeOrAge,
    WhenCaughtUp,
    partition_key,
)
from iot_pipeline.stream.dead_letters import DeadLetterQueue
from iot_pipeline.stream.decoding import EMPTY_VALUE, Decoder, decode_with_retry
from iot_pipeline.stream.loop import ConsumerLoop, start_offsets
from iot_pipeline.stream.step import (
    Abandon,
    LoopObserver,
    NullObserver,
    Rejected,
    Rejection,
    Step,
    StepBase,
    StopPatience,
    Transient,
)
from iot_pipeline.stream.stopping import stop_on_signals

__all__ = [
    "EMPTY_VALUE",
    "Abandon",
    "Batch",
    "BatchPolicy",
    "BatchView",
    "ConsumerLoop",
    "DeadLetter",
    "DeadLetterQueue",
    "Decoder",
    "EveryPoll",
    "EveryPollWhenCaughtUp",
    "LoopObserver",
    "NullObserver",
    "Rejected",
    "Rejection",
    "SizeOrAge",
    "Step",
    "StepBase",
    "StopPatience",
    "Transient",
    "WhenCaughtUp",
    "decode_with_retry",
    "partition_key",
    "start_offsets",
    "stop_on_signals",
]
