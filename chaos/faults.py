"""The faults: each one injected, held, healed through devstack's own process control (pid files
that name the very process started, ``devstack.lifecycle.up`` to bring stopped services back and
wait until the whole stack is healthy) or, for the pipeline's services, by killing and
restarting the run's own processes."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

from chaos.pipeline import ChaosPipeline
from devstack import lifecycle, proc
from devstack.config import StackConfig
from devstack.services import all_services


@dataclass(frozen=True)
class Fault:
    id: str  # short name for CHAOS_FAULTS
    name: str
    inject: Callable[[], None]
    heal: Callable[[], None]
    hold_s: float  # how long the fault lasts before it is healed
    alert: str  # the Prometheus alert that should notice it ("" when none applies)
    simulator: bool = False  # recovery is read from the simulator's own rows


SCRAPE_HOLD_S = 20.0


class StackControl:
    """The shared stack's services, by name (kafka-1, postgres, mqtt, registry, ...)."""

    def __init__(self, cfg: StackConfig) -> None:
        self.cfg = cfg
        self.services = {s.name: s for s in all_services(cfg)}

    def _record(self, name: str) -> proc.PidRecord:
        record = proc.running_record(self.services[name].pidfile(self.cfg))
        if record is None:
            raise RuntimeError(f"{name} is not running (pid file {self.services[name].name})")
        return record

    def kill(self, name: str) -> None:
        """SIGKILL, like a crash (the pid file is removed once it is gone)."""
        proc.stop(self.services[name].pidfile(self.cfg), sig=signal.SIGKILL, timeout_s=10)

    def stop(self, name: str) -> None:
        """The service's own clean stop signal."""
        service = self.services[name]
        proc.stop(service.pidfile(self.cfg), sig=service.stop_signal, timeout_s=60)

    def freeze(self, name: str) -> None:
        """SIGSTOP: the process stops answering anyone (peers and clients) but keeps its
        sockets; loopback has one interface, so this is the cut-off that is real here."""
        os.killpg(self._record(name).pid, signal.SIGSTOP)

    def thaw(self, name: str) -> None:
        os.killpg(self._record(name).pid, signal.SIGCONT)

    def up(self) -> None:
        """Start whatever is not running and wait until the whole stack is healthy."""
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = lifecycle.up(self.cfg)
        if code != 0:
            raise RuntimeError(f"the stack did not come back healthy:\n{out.getvalue()[-2000:]}")


def stack_faults(stack: StackControl, postgres_s: float) -> list[Fault]:
    def kill_then_up(name: str) -> tuple[Callable[[], None], Callable[[], None]]:
        return (lambda: stack.kill(name)), stack.up

    def stop_then_up(name: str) -> tuple[Callable[[], None], Callable[[], None]]:
        return (lambda: stack.stop(name)), stack.up

    # Prometheus scrapes every 15 s: a stack fault is held for longer than that, so at least
    # one scrape falls inside it and the alert's condition can be seen at all.
    return [
        Fault("kafka-kill", "SIGKILL Kafka broker 2, restart", *kill_then_up("kafka-2"),
              SCRAPE_HOLD_S, "KafkaBrokerDown"),
        Fault("mqtt-restart", "Mosquitto stopped 20 s, restart", *stop_then_up("mqtt"),
              SCRAPE_HOLD_S, "MosquittoDown"),
        Fault("postgres-stop", f"PostgreSQL stopped {postgres_s:g} s", *stop_then_up("postgres"),
              postgres_s, "PostgresDown"),
        Fault("registry-restart", "registry restart", *stop_then_up("registry"), 2, ""),
        Fault("kafka-cutoff", "Kafka broker 3 cut off (SIGSTOP 20 s)",
              lambda: stack.freeze("kafka-3"), lambda: stack.thaw("kafka-3"), 20,
              "KafkaBrokerDown"),
    ]  # fmt: skip


def service_faults(pipeline: ChaosPipeline) -> list[Fault]:
    def kill(name: str) -> Callable[[], None]:
        return lambda: pipeline.kill(name)

    def restart(name: str) -> Callable[[], None]:
        return lambda: pipeline.start(name)

    return [
        Fault(
            f"{name}-kill",
            f"SIGKILL {name}, restart",
            kill(name),
            restart(name),
            2,
            "",
            name == "simulator",
        )
        for name in ("adapter", "sink", "alert-consumer", "simulator")
    ]


def wait_healthy(stack: StackControl, timeout: float = 120.0) -> None:
    """Until every stack service's pid file names a live process (after a heal)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(proc.running_record(s.pidfile(stack.cfg)) for s in stack.services.values()):
            return
        time.sleep(0.5)
    raise RuntimeError("stack services still down after the heal")
