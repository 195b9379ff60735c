"""The consume -> decode -> transform -> batch -> write -> dead-letter -> commit loop.

One loop for every Kafka consumer of the project; see :mod:`iot_pipeline.stream` for how a
service plugs its :class:`~iot_pipeline.stream.step.Step` into it. Guarantees:

- offsets are committed only after the batch's ``write`` and its dead letters' delivery
  succeeded, so a crash at any point re-delivers, never loses;
- while ``write`` raises :class:`~iot_pipeline.stream.step.Transient` (or the registry is
  unreachable) the assigned partitions are paused, the consumer keeps polling (so it stays in
  its group; what still arrives is held, uncommitted) and the write is retried with backoff;
  consumption resumes by itself once a write succeeds;
- a record that never will be written goes to the dead-letter topic with a reason;
- a stop request (SIGTERM) writes and commits the batch in hand before closing, retrying a
  failing write for :class:`~iot_pipeline.stream.step.StopPatience`; what it gives up on is
  not committed and is re-read on the next start;
- revoked partitions' uncommitted messages are forgotten (their new owner re-reads them);
- with ``write_in_background`` (the sink) a batch is written on a thread of its own while the
  next one is read and transformed (:mod:`iot_pipeline.stream.background`): one write in
  flight at most, batches still written, dead-lettered and committed in order.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from loguru import logger

from iot_pipeline.kafka.consumer import offsets_to_commit
from iot_pipeline.kafka.dead_letter import DeadLetterReason
from iot_pipeline.retry import Backoff
from iot_pipeline.stream.background import BackgroundWrite, Ended
from iot_pipeline.stream.batching import (
    Batch,
    BatchPolicy,
    BatchView,
    DeadLetter,
    partition_key,
)
from iot_pipeline.stream.dead_letters import DeadLetterQueue, skip
from iot_pipeline.stream.decoding import EMPTY_VALUE, Decoder, Poison, decode_with_retry
from iot_pipeline.stream.step import (
    Abandon,
    LoopObserver,
    NullObserver,
    Rejected,
    Rejection,
    Step,
    StopPatience,
    Transient,
)

T = TypeVar("T")

# While a write runs in the background, a poll blocks at most this long, so the batch is
# committed promptly once its write ended.
BACKGROUND_POLL_WAIT = 0.05


def start_offsets(
    assigned: Sequence[TopicPartition], chosen: Sequence[TopicPartition]
) -> list[TopicPartition]:
    """The assignment with the offsets a step chose (others keep the committed offset). Pure."""
    by_key = {(tp.topic, tp.partition): tp.offset for tp in chosen}
    return [
        TopicPartition(tp.topic, tp.partition, by_key[(tp.topic, tp.partition)])
        if (tp.topic, tp.partition) in by_key
        else TopicPartition(tp.topic, tp.partition)
        for tp in assigned
    ]


class ConsumerLoop(Generic[T]):
    def __init__(
        self,
        consumer: Consumer,
        decode: Decoder,
        step: Step[T],
        *,
        topics: Sequence[str],
        policy: BatchPolicy,
        dead_letters: DeadLetterQueue | None = None,
        observer: LoopObserver | None = None,
        backoff: Backoff | None = None,
        patience: StopPatience | None = None,
        commit_synchronously: bool = False,
        write_in_background: bool = False,
        max_poll_wait: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        destination: str = "destination",
    ) -> None:
        """``destination`` names what ``write`` writes to, in log lines ("database")."""
        self._consumer = consumer
        self._decode = decode
        self._step = step
        self._topics = list(topics)
        self._policy = policy
        self._dead_letters = dead_letters
        self._observer: LoopObserver = observer or NullObserver()
        self._backoff = backoff or Backoff()
        self._patience = patience or StopPatience()
        self._commit_synchronously = commit_synchronously
        self._max_poll_wait = max_poll_wait
        self._clock = clock
        self._destination = destination
        self._batch: Batch[Message, T] = Batch()
        self._held: deque[Message] = deque()
        self._caught_up = False
        self._paused = False
        self._stop = threading.Event()
        self._background: BackgroundWrite[T] | None = (
            BackgroundWrite(step.write) if write_in_background else None
        )
        self._ended: Ended[T] | None = None  # a background write ended, its batch not committed

    # --- running -------------------------------------------------------------------------------
    def request_stop(self) -> None:
        self._stop.set()

    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, stop: threading.Event | None = None) -> None:
        """Consume until ``stop`` is set, then write and commit the batch in hand and close the
        consumer (and flush the dead-letter producer)."""
        if stop is not None:
            self._stop = stop
        self._consumer.subscribe(
            self._topics,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        try:
            while not self._stop.is_set():
                self._fill(self._poll_timeout())
                self._complete_background(wait=False)
                if self._policy.is_due(self._view(), self._clock()):
                    self._flush(final=False)
                self._step.after_cycle()
            self._complete_background(wait=True, final=not len(self._batch))
            if len(self._batch):
                logger.info("stopping: writing the last batch of {} records", len(self._batch))
                self._flush(final=True)
        except Abandon as exc:
            logger.error("stopping without committing the batch in hand ({}); it is re-read", exc)
        finally:
            if self._background is not None:
                self._background.close()
            self._consumer.close()
            if self._dead_letters is not None:
                self._dead_letters.close()

    def _view(self) -> BatchView:
        return self._batch.view(caught_up=self._caught_up)

    def _poll_timeout(self) -> float:
        now = self._clock()
        timeout = self._policy.wait_time(self._view(), now, self._max_poll_wait)
        if self._background is not None and self._background.busy:
            timeout = min(timeout, BACKGROUND_POLL_WAIT)
        limit = self._step.poll_timeout(now)
        return timeout if limit is None else max(0.0, min(timeout, limit))

    # --- consuming -----------------------------------------------------------------------------
    def _fill(self, timeout: float) -> None:
        if self._held:
            while self._held and not self._policy.is_full(self._view()):
                self._accept(self._held.popleft())
            return
        asked = self._policy.room(self._view())
        messages = self._consumer.consume(num_messages=asked, timeout=timeout)
        self._caught_up = len(messages) < asked
        for message in messages:
            self._accept(message)

    def _accept(self, message: Message) -> None:
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                logger.warning("consumer error: {}", error)
            return
        self._observer.on_received()
        now = self._clock()
        try:
            record = decode_with_retry(
                self._decode,
                message,
                backoff=self._backoff,
                wait=self._wait_paused,
                stopping=self.stopping,
            )
            if record is None:
                raise Rejected(DeadLetterReason.DESERIALIZATION, EMPTY_VALUE)
            self._batch.add(now, message, self._step.transform(message, record))
        except Poison as exc:
            self._batch.add_dead(now, message, DeadLetterReason.DESERIALIZATION, str(exc))
        except Rejected as exc:
            self._batch.add_dead(now, message, exc.reason, exc.detail)

    # --- writing -------------------------------------------------------------------------------
    def _flush(self, *, final: bool) -> None:
        """Write the batch in hand (after completing the one written in the background, if
        any): on the background thread, or here when stopping or without one."""
        self._complete_background(wait=True)
        started = self._clock()
        if self._background is not None and not final:
            self._background.start(self._batch, started)
            self._batch = Batch()
            return
        batch = self._batch  # a rebalance during a retry drops revoked partitions from it
        self._refuse(batch, self._write(batch))
        self._complete(batch, started, wait=final or self._commit_synchronously)
        self._batch = Batch()

    def _complete_background(self, *, wait: bool, final: bool = False) -> None:
        """Dead-letter and commit the batch whose background write ended (write it again here
        first if it failed); with ``wait``, wait for a write still in flight."""
        if self._background is not None and (wait or self._background.ended()):
            self._settle()
        ended = self._ended
        if ended is None:
            return
        if ended.failure is not None:
            self._refuse(ended.batch, self._write(ended.batch, ended.failure))
        self._complete(ended.batch, ended.started, wait=final or self._commit_synchronously)
        self._ended = None

    def _settle(self) -> None:
        """Take the result of the background write in flight (waiting for it to end)."""
        if self._background is None or self._ended is not None:
            return
        ended = self._background.settle()
        if ended is not None:
            self._refuse(ended.batch, ended.rejections)
            self._ended = ended

    def _refuse(self, batch: Batch[Message, T], rejections: Sequence[Rejection]) -> None:
        """The values the destination refused become the batch's dead letters."""
        for rejection in rejections:
            message = batch.value_messages[rejection.index]
            batch.dead.append(DeadLetter(message, rejection.reason, rejection.detail))

    def _complete(self, batch: Batch[Message, T], started: float, *, wait: bool) -> None:
        """After the write: dead letters, resume, commit."""
        self._send_dead_letters(batch)
        self._resume()
        self._commit(batch, wait=wait)
        if len(batch):
            self._observer.on_batch_done(self._clock() - started)

    def _write(
        self, batch: Batch[Message, T], failure: Transient | None = None
    ) -> Sequence[Rejection]:
        """``write`` until it succeeds (pausing and backing off while it raises Transient);
        ``failure``: it already failed once, in the background."""
        attempt = 0
        deadline: float | None = None
        while True:
            if failure is None:
                try:
                    return self._step.write(batch)
                except Transient as exc:
                    failure = exc
            attempt += 1
            self._observer.on_write_failed()
            delay = self._backoff.delay(attempt)
            logger.error(
                "{} write failed ({}); retry {} in {:.1f}s",
                self._destination,
                failure,
                attempt,
                delay,
            )
            if self._stop.is_set():
                now = self._clock()
                deadline = self._patience.deadline(now) if deadline is None else deadline
                if self._patience.gives_up(attempt, now + delay, deadline):
                    raise Abandon(f"giving up on the batch in hand: {failure}") from failure
            self._wait_paused(delay)
            failure = None

    def _send_dead_letters(self, batch: Batch[Message, T]) -> None:
        if self._dead_letters is None:
            skip(batch.dead, self._observer)
            return
        self._dead_letters.send(
            batch.dead,
            observer=self._observer,
            backoff=self._backoff,
            wait=self._wait_paused,
            stopping=self.stopping,
        )

    def _commit(self, batch: Batch[Message, T], *, wait: bool) -> None:
        """Commit the batch's offsets. Asynchronously unless ``wait``: what they cover is already
        written, so waiting for the broker adds latency and protects nothing (a commit lost in a
        crash means a replay). The last batch before closing waits."""
        offsets = offsets_to_commit(batch.messages)
        if not offsets:
            return
        try:
            if wait:
                self._consumer.commit(offsets=offsets, asynchronous=False)
            else:
                self._consumer.commit(offsets=offsets, asynchronous=True)
            self._observer.on_committed()
        except KafkaException as exc:
            logger.warning("offset commit failed after a written batch: {}", exc)

    # --- back-pressure -------------------------------------------------------------------------
    def _wait_paused(self, delay: float) -> None:
        """Pause every assigned partition and keep the consumer alive for ``delay`` seconds.
        Anything still delivered meanwhile is held (uncommitted) and processed afterwards."""
        assignment = self._consumer.assignment()
        if assignment:
            self._consumer.pause(assignment)
        if not self._paused:
            logger.warning("pausing consumption until the write succeeds")
            self._observer.on_paused(True)
        self._paused = True
        end = self._clock() + delay
        while not self._stop.is_set():
            left = end - self._clock()
            if left <= 0:
                break
            for message in self._consumer.consume(num_messages=100, timeout=min(left, 0.5)):
                self._held.append(message)
            newly = self._consumer.assignment()
            if newly:
                self._consumer.pause(newly)

    def _resume(self) -> None:
        if not self._paused:
            return
        assignment = self._consumer.assignment()
        if assignment:
            self._consumer.resume(assignment)
        self._paused = False
        self._observer.on_paused(False)
        logger.info("{} reachable again; consumption resumed", self._destination)

    # --- rebalancing ---------------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if partitions:
            logger.info("assigned {}", [(p.topic, p.partition) for p in partitions])
        chosen = self._step.on_assign(partitions)
        if chosen:
            offsets = start_offsets(partitions, chosen)
            try:
                consumer.incremental_assign(offsets)  # cooperative-sticky (consumer_config)
            except KafkaException:
                consumer.assign(offsets)  # an eager assignment strategy

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        lost = {(p.topic, p.partition) for p in partitions}
        logger.info("revoked {}", sorted(lost))
        self._settle()  # a background write ends before its partitions go
        if self._ended is not None:
            self._ended.batch.drop_partitions(lost, partition_key)
        self._batch.drop_partitions(lost, partition_key)
        self._held = deque(m for m in self._held if partition_key(m) not in lost)
        self._step.on_revoke(partitions)
