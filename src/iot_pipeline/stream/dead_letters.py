"""Delivering a batch's dead letters before its offsets are committed.

Headers follow the project's one convention (:mod:`iot_pipeline.kafka.dead_letter`). Without a
dead-letter topic (the alert consumer: the sink dead-letters the same records) a rejected record
is only logged and counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from confluent_kafka import KafkaError, Message, Producer
from loguru import logger

from iot_pipeline.kafka.dead_letter import dead_letter_headers, kafka_source
from iot_pipeline.retry import Backoff
from iot_pipeline.stream.batching import DeadLetter, partition_key
from iot_pipeline.stream.step import Abandon, LoopObserver

# While stopping, undeliverable dead letters are retried this many times before giving up (their
# offsets are then not committed: the records are re-read on the next start).
STOPPING_ATTEMPTS = 3


def _offset(message: Message) -> int:
    offset = message.offset()
    return -1 if offset is None else offset


def _where(message: Message) -> str:
    topic, partition = partition_key(message)
    return f"{topic}[{partition}]@{_offset(message)}"


class DeadLetterQueue:
    """Produces dead letters to ``topic`` and waits until Kafka has them all."""

    def __init__(self, producer: Producer, topic: str, service: str) -> None:
        self._producer = producer
        self._topic = topic
        self._service = service

    def send(
        self,
        letters: Sequence[DeadLetter[Message]],
        *,
        observer: LoopObserver,
        backoff: Backoff,
        wait: Callable[[float], None],
        stopping: Callable[[], bool],
    ) -> None:
        """Deliver every letter; raises :class:`Abandon` if stopping while Kafka refuses them."""
        for letter in letters:
            logger.warning(
                "dead-lettering {}: {} ({})", _where(letter.message), letter.reason, letter.detail
            )
            observer.on_rejected(letter.reason, letter.detail)
        pending = list(letters)
        attempt = 0
        while pending:
            # Dead letters must be durable before their offsets are committed: what Kafka
            # refused is produced again until it is accepted.
            failed = self._produce(pending)
            while self._producer.flush(30) > 0:
                attempt = self._retry(attempt, "dead letters still queued", backoff, wait, stopping)
            pending = [letter for letter, _ in failed]
            if pending:
                what = f"{len(pending)} dead letters not delivered ({failed[0][1]})"
                attempt = self._retry(attempt, what, backoff, wait, stopping)

    def _produce(
        self, letters: Sequence[DeadLetter[Message]]
    ) -> list[tuple[DeadLetter[Message], KafkaError]]:
        """Produce each letter; the returned list fills with those Kafka refused on flush."""
        failed: list[tuple[DeadLetter[Message], KafkaError]] = []
        for letter in letters:
            message = letter.message

            def delivered(
                error: KafkaError | None, _msg: Message, letter: DeadLetter[Message] = letter
            ) -> None:
                if error is not None:
                    failed.append((letter, error))

            headers: list[tuple[str, str | bytes | None]] = []
            headers += dead_letter_headers(
                letter.reason,
                letter.detail,
                service=self._service,
                source=kafka_source(*partition_key(message), _offset(message)),
                original=message.headers(),
            )
            self._producer.produce(
                self._topic,
                value=message.value(),
                key=message.key(),
                headers=headers,
                on_delivery=delivered,
            )
        return failed

    @staticmethod
    def _retry(
        attempt: int,
        what: str,
        backoff: Backoff,
        wait: Callable[[float], None],
        stopping: Callable[[], bool],
    ) -> int:
        attempt += 1
        if stopping() and attempt > STOPPING_ATTEMPTS:
            raise Abandon(f"{what}; offsets not committed")
        logger.error("{}; retry {}", what, attempt)
        wait(backoff.delay(attempt))
        return attempt

    def close(self) -> None:
        self._producer.flush(10)


def skip(letters: Sequence[DeadLetter[Message]], observer: LoopObserver) -> None:
    """Without a dead-letter topic: log and count each rejected record, then commit past it."""
    for letter in letters:
        logger.warning("skipping {}: {} ({})", _where(letter.message), letter.reason, letter.detail)
        observer.on_rejected(letter.reason, letter.detail)
