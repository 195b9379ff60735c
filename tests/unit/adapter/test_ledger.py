"""The acknowledgement ledger alone (pure: no paho, no Kafka): when each MQTT message is
acknowledged, in which order, what riders and redeliveries do, and what it counts."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from iot_pipeline.adapter.incoming import Incoming
from iot_pipeline.adapter.ledger import AckLedger, LedgerMetrics, PendingMessage
from tests.unit.adapter.fakes import RECEIVED, Clock


class Harness:
    def __init__(self) -> None:
        self.acks: list[tuple[int, int]] = []
        self.failures: list[tuple[PendingMessage, Any, Any]] = []
        self.clock = Clock()
        self.registry = CollectorRegistry()
        self.ledger = AckLedger(
            lambda mid, qos: self.acks.append((mid, qos)),
            LedgerMetrics(self.registry),
            self.clock,
            lambda pending, error, record: self.failures.append((pending, error, record)),
        )

    def metric(self, name: str) -> float:
        return self.registry.get_sample_value(name) or 0.0


def _in(mid: int, qos: int = 1, received_mono: float = 1000.0) -> Incoming:
    return Incoming("ruuvitag/data", b"{}", mid, qos, RECEIVED, received_mono)


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_a_message_is_acknowledged_only_after_its_last_confirmation(h: Harness) -> None:
    pending = h.ledger.open(_in(7), expected=3, dedup_key=("AA", 1), records=3)
    assert h.ledger.in_flight == 1
    assert h.metric("mqtt_adapter_pending_messages") == 1
    pending.report(None, "record 1")
    pending.report(None, "record 2")
    assert h.acks == []
    pending.report(None, "record 3")
    assert h.acks == [(7, 1)]
    assert h.ledger.in_flight == 0
    assert h.metric("mqtt_adapter_pending_messages") == 0
    assert h.metric("mqtt_adapter_records_published_total") == 3


def test_messages_are_acknowledged_in_the_order_they_complete(h: Harness) -> None:
    first = h.ledger.open(_in(1), 2, None, 2)
    second = h.ledger.open(_in(2), 1, None, 1)
    third = h.ledger.open(_in(3), 1, None, 1)
    third.report(None, None)
    first.report(None, None)
    second.report(None, None)
    assert h.acks == [(3, 1), (2, 1)]
    first.report(None, None)
    assert h.acks == [(3, 1), (2, 1), (1, 1)]


def test_a_failure_goes_to_on_failure_and_does_not_count_as_confirmed(h: Harness) -> None:
    pending = h.ledger.open(_in(4), 2, None, 2)
    pending.report("broker down", "the record")
    assert h.failures == [(pending, "broker down", "the record")]
    pending.report(None, None)
    assert h.acks == []  # one record still unconfirmed: it is being retried
    pending.report(None, None)  # the retry confirmed
    assert h.acks == [(4, 1)]


def test_riders_are_acknowledged_right_after_the_original_in_arrival_order(h: Harness) -> None:
    pending = h.ledger.open(_in(1), 1, ("AA", 5), 1)
    assert h.ledger.ride(("AA", 5), _in(2))
    assert h.ledger.ride(("AA", 5), _in(3, qos=0))
    assert h.ledger.in_flight == 1  # riders are not messages of their own
    pending.report(None, None)
    assert h.acks == [(1, 1), (2, 1), (3, 0)]
    assert h.metric("mqtt_adapter_records_published_total") == 1


def test_no_ride_without_a_waiting_original(h: Harness) -> None:
    assert not h.ledger.ride(None, _in(1))
    assert not h.ledger.ride(("AA", 5), _in(1))
    pending = h.ledger.open(_in(2), 1, ("AA", 5), 1)
    assert not h.ledger.ride(("AA", 6), _in(3))
    pending.report(None, None)
    assert not h.ledger.ride(("AA", 5), _in(4))  # the original is done
    assert h.acks == [(2, 1)]


def test_a_newer_original_for_the_same_key_is_not_forgotten_by_the_older(h: Harness) -> None:
    older = h.ledger.open(_in(1), 1, ("AA", 5), 1)
    newer = h.ledger.open(_in(2), 1, ("AA", 5), 1)  # published again after the window
    older.report(None, None)
    assert h.ledger.ride(("AA", 5), _in(3))  # rides on the newer one, still waiting
    newer.report(None, None)
    assert h.acks == [(1, 1), (2, 1), (3, 1)]


def test_a_redelivery_is_recognised_while_its_first_copy_waits(h: Harness) -> None:
    assert not h.ledger.is_redelivery(_in(5))
    pending = h.ledger.open(_in(5), 1, None, 0)
    assert h.ledger.is_redelivery(_in(5))
    assert h.ledger.is_redelivery(_in(5))
    assert h.metric("mqtt_adapter_redeliveries_total") == 2
    pending.report(None, None)
    assert h.acks == [(5, 1)]  # once, for all copies
    assert not h.ledger.is_redelivery(_in(5))  # acknowledged: the id may be reused


def test_a_rider_id_counts_as_a_redelivery_until_acknowledged(h: Harness) -> None:
    pending = h.ledger.open(_in(1), 1, ("AA", 5), 1)
    h.ledger.ride(("AA", 5), _in(2))
    assert h.ledger.is_redelivery(_in(2))
    pending.report(None, None)
    assert not h.ledger.is_redelivery(_in(2))


def test_qos0_messages_are_never_redeliveries(h: Harness) -> None:
    h.ledger.open(_in(0, qos=0), 1, None, 0)
    assert not h.ledger.is_redelivery(_in(0, qos=0))
    h.ledger.ride(None, _in(0, qos=0))
    assert h.metric("mqtt_adapter_redeliveries_total") == 0


def test_a_dead_letter_counts_no_records(h: Harness) -> None:
    h.ledger.open(_in(3), 1, None, 0).report(None, None)
    assert h.acks == [(3, 1)]
    assert h.metric("mqtt_adapter_records_published_total") == 0


def test_ack_latency_is_measured_from_receipt_with_the_clock_given(h: Harness) -> None:
    pending = h.ledger.open(_in(1, received_mono=999.75), 1, None, 1)
    pending.report(None, None)
    assert h.metric("mqtt_adapter_ack_latency_seconds_sum") == pytest.approx(0.25)
    assert h.metric("mqtt_adapter_ack_latency_seconds_count") == 1


def test_the_report_callback_is_one_object_per_message(h: Harness) -> None:
    pending = h.ledger.open(_in(1), 9, None, 9)
    assert pending.report is pending.report
    assert pending.report.args == (pending,)  # type: ignore[attr-defined]


def test_the_ledger_does_not_import_paho_or_kafka() -> None:
    code = (
        "import sys, iot_pipeline.adapter.ledger; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('paho', 'confluent_kafka')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
