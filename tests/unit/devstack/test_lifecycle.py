"""``up``'s upgrade of brokers started before the secured listener existed (no I/O: the process
and port checks are replaced)."""

from __future__ import annotations

from typing import Any

import pytest

from devstack import lifecycle
from devstack.config import StackConfig
from devstack.services import all_services


@pytest.fixture
def cfg(tmp_path) -> StackConfig:
    return StackConfig.from_env({"IOT_STACK_STATE_DIR": str(tmp_path)})


def run(monkeypatch: Any, cfg: StackConfig, open_ports: set[int], running: bool) -> list[str]:
    stopped: list[str] = []
    monkeypatch.setattr(lifecycle.proc, "running_record", lambda _p: object() if running else None)
    monkeypatch.setattr(lifecycle.proc, "port_open", lambda port: port in open_ports)
    monkeypatch.setattr(lifecycle.proc, "stop", lambda pidfile, **_: stopped.append(pidfile.stem))
    lifecycle._stop_outdated_brokers(cfg, all_services(cfg))
    return stopped


def test_brokers_serving_without_the_secured_listener_are_restarted(monkeypatch, cfg) -> None:
    plain_only = set(cfg.kafka_ports)
    assert run(monkeypatch, cfg, plain_only, True) == ["kafka-1", "kafka-2", "kafka-3"]


def test_current_starting_or_stopped_brokers_are_left_alone(monkeypatch, cfg) -> None:
    both = set(cfg.kafka_ports) | set(cfg.kafka_secure_ports)
    assert run(monkeypatch, cfg, both, True) == []  # today's configuration
    assert run(monkeypatch, cfg, set(), True) == []  # still starting: nothing open yet
    assert run(monkeypatch, cfg, set(cfg.kafka_ports), False) == []  # not ours / not running
