"""SINK_WORKERS=2 over the real stack: two consumer-group members under one supervisor store a
stream exactly once, serve their metrics together, and a worker killed mid-stream stops the
service without losing or duplicating a row after its restart."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.sink.harness import SinkEnv, dead_letters, produce, readings, wait_for
from tests.e2e.sink.test_sink_e2e import StartSink, free_port, group_caught_up, scrape

pytestmark = pytest.mark.e2e


def children(pid: int) -> list[int]:
    """The worker processes of a supervisor (multiprocessing's resource tracker left out)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return [c for c in found if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def by_worker(metrics: dict[str, float], name: str) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if k.startswith(name + "{") and "worker=" in k}


def test_two_workers_store_a_stream_once_and_serve_their_metrics_together(
    sink_env: SinkEnv, start_sink: StartSink
) -> None:
    good = readings("e2e-workers", 4000)
    produce(sink_env, [*good, {**good[0], "device_id": " "}])
    port = free_port()
    sink = start_sink(sink_env.env(SINK_WORKERS="2", SINK_METRICS_PORT=str(port)))
    wait_for(lambda: sink_env.count("e2e-workers") == 4000, 120, "4000 stored readings")
    assert [m.headers() for m in dead_letters(sink_env, 1)]
    wait_for(lambda: group_caught_up(sink_env, sink_env.group), 30, "offsets committed")
    assert len(children(sink.proc.pid)) == 2
    processed = by_worker(scrape(port), "iot_messages_processed_total")
    assert sum(processed.values()) == 4000
    assert {k.split('worker="')[1][0] for k in processed} == {"0", "1"}
    assert sink.stop() == 0
    assert "started 2 sink workers" in sink.text()
    assert sink_env.distinct_keys() == sink_env.count()


def test_a_killed_worker_stops_the_service_and_a_restart_loses_nothing(
    sink_env: SinkEnv, start_sink: StartSink
) -> None:
    total = 20000
    produce(sink_env, readings("e2e-worker-kill", total, devices=20))
    env = sink_env.env(SINK_WORKERS="2", DATA_SINK_BATCH_SIZE="1000")
    first = start_sink(env)
    wait_for(lambda: sink_env.count("e2e-worker-kill") >= 1000, 120, "the first batches")
    workers = children(first.proc.pid)
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 60
    while first.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert first.proc.poll() == 1, "the supervisor keeps running without a worker"
    first.stop()
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers[1:]), "worker left behind"
    assert sink_env.count("e2e-worker-kill") < total, "finished before the kill"

    second = start_sink(env)
    wait_for(lambda: sink_env.count("e2e-worker-kill") == total, 240, f"all {total} readings")
    wait_for(lambda: group_caught_up(sink_env, sink_env.group), 30, "offsets committed")
    assert second.stop() == 0
    assert sink_env.distinct_keys() == total
