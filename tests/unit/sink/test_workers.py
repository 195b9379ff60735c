"""The sink's worker supervisor: exit status, metrics of all workers on one port, and real
worker processes started, stopped and replaced by a clean exit of all."""

from __future__ import annotations

import signal
import threading
import time

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from iot_pipeline.sink.workers import (
    Supervisor,
    WorkerMetrics,
    WorkerSlot,
    exit_code,
    merge_families,
)


@pytest.mark.parametrize(
    ("requested", "codes", "status"),
    [
        (True, [0, 0], 0),
        (True, [0, -15], 1),  # killed after the grace period
        (True, [0, None], 1),
        (False, [0, 0], 1),  # a worker ended by itself, though cleanly
        (False, [3, 0], 1),
    ],
)
def test_exit_code(requested: bool, codes: list[int | None], status: int) -> None:
    assert exit_code(requested, codes) == status


def worker_text(rows: float, paused: float) -> str:
    registry = CollectorRegistry()
    Counter("iot_rows", "Rows.", registry=registry).inc(rows)
    Gauge("iot_paused", "Paused.", registry=registry).set(paused)
    Histogram("iot_age_seconds", "Age.", registry=registry, buckets=(1, 5)).observe(rows)
    return generate_latest(registry).decode()


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_workers_metrics_are_served_together_with_a_worker_label() -> None:
    texts = {0: worker_text(2, 0), 1: worker_text(7, 1)}
    families = merge_families(texts)
    names = sorted(f.name for f in families if not f.name.endswith("_created"))
    assert names == ["iot_age_seconds", "iot_paused", "iot_rows"]
    collector = WorkerMetrics(fetch=lambda port: texts[port - 9000])
    collector.add(0, 9000)
    collector.add(1, 9001)
    registry = CollectorRegistry()
    registry.register(collector)
    got = samples(registry)
    assert got[("iot_rows_total", (("worker", "0"),))] == 2
    assert got[("iot_rows_total", (("worker", "1"),))] == 7
    assert got[("iot_paused", (("worker", "1"),))] == 1
    assert got[("iot_age_seconds_bucket", (("le", "5.0"), ("worker", "1")))] == 0
    assert got[("iot_age_seconds_bucket", (("le", "+Inf"), ("worker", "1")))] == 1
    assert got[("iot_age_seconds_sum", (("worker", "0"),))] == 2


def test_a_worker_that_does_not_answer_is_left_out_of_the_scrape() -> None:
    def fetch(port: int) -> str:
        if port == 2:
            raise ConnectionRefusedError("gone")
        return worker_text(1, 0)

    collector = WorkerMetrics(fetch=fetch)
    collector.add(0, 1)
    collector.add(1, 2)
    registry = CollectorRegistry()
    registry.register(collector)
    assert {labels for (name, labels) in samples(registry) if name == "iot_rows_total"} == {
        (("worker", "0"),)
    }


# --- real worker processes (spawned: these targets are imported by the children) -------------
def _until_terminated(slot: WorkerSlot) -> int:
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    slot.report_port(7000 + slot.index)
    return 0 if stopped.wait(60) else 9


def _second_fails(slot: WorkerSlot) -> int:
    if slot.index == 1:
        return 3
    return _until_terminated(slot)


class Ports(WorkerMetrics):
    def __init__(self) -> None:
        super().__init__(fetch=lambda port: "")
        self.seen: dict[int, int] = {}

    def add(self, index: int, port: int) -> None:
        self.seen[index] = port


def test_stop_request_stops_every_worker_cleanly() -> None:
    ports = Ports()
    supervisor = Supervisor(2, _until_terminated, name="test", metrics=ports, grace=30)
    stop = threading.Event()

    def stop_once_reported() -> None:
        deadline = time.monotonic() + 60
        while len(ports.seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()

    threading.Thread(target=stop_once_reported, daemon=True).start()
    assert supervisor.run(stop) == 0
    assert ports.seen == {0: 7000, 1: 7001}


def test_a_worker_ending_on_its_own_stops_the_others_and_fails_the_service() -> None:
    supervisor = Supervisor(2, _second_fails, name="test", grace=30)
    started = time.monotonic()
    assert supervisor.run(threading.Event()) == 1
    assert time.monotonic() - started < 50  # worker 0 was stopped, not waited out
