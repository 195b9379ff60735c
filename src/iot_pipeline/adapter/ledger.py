"""The acknowledgement ledger (pure: no paho, no Kafka): which MQTT messages wait for which
Kafka confirmations, and when each may be acknowledged to the broker.

An MQTT message is acknowledged only once every record made from it (or its dead letter) is
confirmed, so a crash in between loses nothing: the broker redelivers what was never
acknowledged. A duplicate of a message still waiting (the same measurement through another
gateway) rides on it and is acknowledged with it, after it. A redelivery of a message still
waiting (the broker resends unacknowledged packet ids after a reconnect) is recognised and
acknowledged together with its first copy, not processed twice.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from iot_pipeline.adapter.incoming import Acknowledge, Incoming
from iot_pipeline.adapter.plain_metrics import PlainCounter, PlainHistogram

# 1 ms to ~60 s in steps of 25 %: fine enough to read p50/p99 off the histogram (make bench).
LATENCY_BUCKETS = tuple(round(0.001 * 1.25**i, 6) for i in range(50))

DedupKey = tuple[str, int]
# Called with (pending message, error, the record) when Kafka reports a record failed.
OnFailure = Callable[["PendingMessage", Any, Any], None]


class LedgerMetrics:
    """What the ledger counts: messages waiting, records confirmed, redeliveries, ack latency."""

    def __init__(self, registry: CollectorRegistry) -> None:
        # records and ack_latency change for every message: plain numbers (see plain_metrics).
        self.records = PlainCounter(
            "mqtt_adapter_records_published_total",
            "Per-sensor records confirmed by Kafka.",
            registry=registry,
        )
        self.redeliveries = Counter(
            "mqtt_adapter_redeliveries_total",
            "Messages the broker sent again (after a reconnect) while their first copy was still "
            "waiting for Kafka: acknowledged with it, not processed twice.",
            registry=registry,
        )
        self.pending = Gauge(
            "mqtt_adapter_pending_messages",
            "MQTT messages waiting for Kafka confirmation before their acknowledgement.",
            registry=registry,
        )
        self.ack_latency = PlainHistogram(
            "mqtt_adapter_ack_latency_seconds",
            "Time from receiving an MQTT message to acknowledging it after Kafka confirmed it.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )


class PendingMessage:
    """One MQTT message (plus duplicates riding on it) awaiting its Kafka confirmations."""

    __slots__ = ("acks", "dedup_key", "received_mono", "records", "remaining", "report")

    def __init__(
        self,
        message: Incoming,
        remaining: int,
        dedup_key: DedupKey | None,
        records: int,
        report: Callable[[PendingMessage, Any, Any], None],
    ) -> None:
        self.acks = [(message.mid, message.qos)]
        self.remaining = remaining
        self.received_mono = message.received_mono
        self.dedup_key = dedup_key
        self.records = records
        # The delivery callback of every record made from this message: one object per
        # message, not per record (the record itself comes back in the report).
        self.report: Callable[[Any, Any], None] = partial(report, self)


class AckLedger:
    """Messages waiting for Kafka, acknowledged in the order they complete; each message's
    riders right after it, in the order they arrived."""

    def __init__(
        self,
        acknowledge: Acknowledge,
        metrics: LedgerMetrics,
        clock: Callable[[], float],
        on_failure: OnFailure,
    ) -> None:
        self._acknowledge = acknowledge
        self._metrics = metrics
        self._clock = clock
        self._on_failure = on_failure
        self._by_key: dict[DedupKey, PendingMessage] = {}
        self._mids: set[int] = set()  # QoS 1/2 packet ids not yet acknowledged
        self._in_flight = 0
        # Read when scraped: exact, and nothing to set per message.
        metrics.pending.set_function(lambda: self._in_flight)

    @property
    def in_flight(self) -> int:
        """MQTT messages not yet acknowledged because Kafka has not confirmed them."""
        return self._in_flight

    def is_redelivery(self, message: Incoming) -> bool:
        """True (and counted) for a QoS 1/2 message whose packet id still waits: the broker
        resent it after a reconnect, and its first copy will acknowledge the id for both."""
        if message.qos and message.mid in self._mids:
            self._metrics.redeliveries.inc()
            return True
        return False

    def open(
        self, message: Incoming, expected: int, dedup_key: DedupKey | None, records: int
    ) -> PendingMessage:
        """Start waiting for ``expected`` confirmations before acknowledging ``message``;
        ``records`` of them count as published records once all are confirmed."""
        pending = PendingMessage(message, expected, dedup_key, records, self.report)
        self._in_flight += 1
        if dedup_key is not None:
            self._by_key[dedup_key] = pending
        if message.qos:
            self._mids.add(message.mid)
        return pending

    def ride(self, dedup_key: DedupKey | None, message: Incoming) -> bool:
        """Acknowledge ``message`` together with the waiting message of ``dedup_key``, after it;
        False when none waits (the caller acknowledges it at once)."""
        original = self._by_key.get(dedup_key) if dedup_key is not None else None
        if original is None:
            return False
        original.acks.append((message.mid, message.qos))
        if message.qos:
            self._mids.add(message.mid)
        return True

    def report(self, pending: PendingMessage, error: Any, record: Any) -> None:
        """Kafka's verdict on one record of ``pending``: a confirmation, or a failure handed to
        ``on_failure`` (the record to retry comes back in ``record``)."""
        if error is not None:
            self._on_failure(pending, error, record)
            return
        pending.remaining -= 1
        if pending.remaining:
            return
        for mid, qos in pending.acks:
            self._mids.discard(mid)
            self._acknowledge(mid, qos)
        self._metrics.records.inc(pending.records)
        self._metrics.ack_latency.observe(self._clock() - pending.received_mono)
        if pending.dedup_key is not None and self._by_key.get(pending.dedup_key) is pending:
            del self._by_key[pending.dedup_key]
        self._in_flight -= 1
