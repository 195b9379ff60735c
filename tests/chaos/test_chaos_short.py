"""A shortened chaos run on the real stack (``make chaos`` runs every fault): a steady stream
through adapter, Kafka, sink and alert consumer while the adapter and the sink are SIGKILLed and
Mosquitto restarts. Every message the broker acknowledged is stored once, no alert event is
emitted twice, and the stack is healthy afterwards."""

from __future__ import annotations

import pytest

from chaos.runner import run
from devstack.config import StackConfig

pytestmark = pytest.mark.timeout(420)


def test_short_chaos_run_loses_and_doubles_nothing(
    stack: StackConfig, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr("chaos.runner.OUTPUT", tmp_path)
    rows = run("adapter-kill,sink-kill,mqtt-restart")
    assert [r.fault for r in rows] == [
        "SIGKILL adapter, restart",
        "SIGKILL sink, restart",
        "Mosquitto stopped 20 s, restart",
    ]
    for row in rows:
        assert row.published > 0, row
        assert row.lost == 0, row
        assert row.stored_twice == 0, row
        assert row.alerts_repeated == 0, row
        assert row.recovery_s == row.recovery_s, f"no row after {row.fault}"  # not NaN
    mosquitto = rows[2]
    # Held longer than a scrape interval: Prometheus sees the broker down while it is.
    assert mosquitto.alert == "MosquittoDown" and mosquitto.detected_s < 20 + 15, mosquitto
    assert (tmp_path / "chaos.md").exists() and (tmp_path / "chaos.json").exists()
