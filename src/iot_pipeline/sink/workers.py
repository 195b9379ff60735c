"""One writer per partition group: the sink as N worker processes under one supervisor.

Each worker is a whole sink (its own consumer in the sink's consumer group, so Kafka gives each
a share of the partitions; its own database connection and transactions; the same loop and
guarantees). One Python process decodes and encodes on one core while PostgreSQL stores the
previous batch; with two, one worker's rows are being stored while the other's are decoded.

The supervisor starts the workers (``spawn``: a fresh interpreter each, nothing inherited but the
environment), forwards a stop request to them (each writes and commits its batch in hand), and
ends as soon as one worker ends on its own, stopping the others: the process manager (systemd,
the devstack, Kubernetes) restarts the service, and what was not committed is re-read. A worker
whose supervisor disappeared stops by itself.

Metrics: each worker serves its registry on an ephemeral loopback port and reports the port;
the supervisor serves all of them on the service's port with a ``worker`` label
(:class:`WorkerMetrics`), so Prometheus keeps scraping one target.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loguru import logger
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

WORKER_LABEL = "worker"


@dataclass(frozen=True)
class WorkerSlot:
    """What a worker process is given: its index and where to report its metrics port."""

    index: int
    ports: Any  # a multiprocessing queue of (index, port)

    def report_port(self, port: int) -> None:
        self.ports.put((self.index, port))


def exit_code(stop_requested: bool, codes: Sequence[int | None]) -> int:
    """The supervisor's exit status (pure): 0 only when it was asked to stop and every worker
    then ended cleanly; 1 when a worker ended on its own or failed."""
    return 0 if stop_requested and all(code == 0 for code in codes) else 1


def merge_families(texts: Mapping[int, str]) -> list[Metric]:
    """The workers' metrics (Prometheus text, by worker index) as one set of families, each
    sample labelled with its worker (pure)."""
    families: dict[str, Metric] = {}
    for index, body in sorted(texts.items()):
        for family in text_string_to_metric_families(body):
            merged = families.get(family.name)
            if merged is None:
                merged = Metric(family.name, family.documentation, family.type, family.unit)
                families[family.name] = merged
            for s in family.samples:
                labels = {**s.labels, WORKER_LABEL: str(index)}
                merged.samples.append(Sample(s.name, labels, s.value, s.timestamp, s.exemplar))
    return list(families.values())


def _fetch(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


class WorkerMetrics:
    """A Prometheus collector serving every worker's metrics (a worker that does not answer is
    left out of that scrape)."""

    def __init__(self, fetch: Callable[[int], str] = _fetch) -> None:
        self._fetch = fetch
        self._ports: dict[int, int] = {}
        self._lock = threading.Lock()

    def add(self, index: int, port: int) -> None:
        with self._lock:
            self._ports[index] = port

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            ports = dict(self._ports)
        texts: dict[int, str] = {}
        for index, port in ports.items():
            try:
                texts[index] = self._fetch(port)
            except OSError as exc:
                logger.warning("worker {} metrics unavailable: {}", index, exc)
        yield from merge_families(texts)


def _stop_with_parent(parent: int) -> None:
    """In a worker: SIGTERM itself (a graceful stop) once its supervisor is gone."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()


def _worker(target: Callable[[WorkerSlot], int], slot: WorkerSlot, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C reaches the supervisor
    _stop_with_parent(parent)
    sys.exit(target(slot))


class Supervisor:
    def __init__(
        self,
        count: int,
        target: Callable[[WorkerSlot], int],
        *,
        name: str,
        metrics: WorkerMetrics | None = None,
        grace: float = 30.0,
    ) -> None:
        """``target(slot)`` runs one worker (a module-level function: it is pickled); ``grace``:
        how long stopping workers may take before they are killed."""
        context = multiprocessing.get_context("spawn")
        self._ports: Any = context.Queue()
        self._processes = [
            context.Process(
                target=_worker,
                args=(target, WorkerSlot(i, self._ports), os.getpid()),
                name=f"{name}-worker-{i}",
            )
            for i in range(count)
        ]
        self._metrics = metrics
        self._grace = grace

    def run(self, stop: threading.Event) -> int:
        """Run the workers until ``stop`` is set or one of them ends; then stop the rest."""
        for process in self._processes:
            process.start()
        logger.info("started {} sink workers", len(self._processes))
        while not stop.is_set() and all(p.is_alive() for p in self._processes):
            self._take_ports()
            stop.wait(0.2)
        requested = stop.is_set()
        if not requested:
            ended = [(p.name, p.exitcode) for p in self._processes if not p.is_alive()]
            logger.error("worker ended on its own {}; stopping the others", ended)
        self._stop_all()
        return exit_code(requested, [p.exitcode for p in self._processes])

    def _take_ports(self) -> None:
        while True:
            try:
                index, port = self._ports.get_nowait()
            except queue.Empty:
                return
            if self._metrics is not None:
                self._metrics.add(index, port)

    def _stop_all(self) -> None:
        for process in self._processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: the worker writes and commits its batch
        deadline = time.monotonic() + self._grace
        for process in self._processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                logger.error(
                    "{} did not stop within {:.0f} s; killing it", process.name, self._grace
                )
                process.kill()
                process.join()
