"""The hot-path bench measures something real: every message it writes is read, handled and
acknowledged with a PUBACK (the bench asserts it), and the figure is a positive CPU time."""

from __future__ import annotations

import pytest

import bench.adapter_hotpath as hotpath
import iot_pipeline.runtime


def test_measure_handles_and_acknowledges_every_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hotpath, "MESSAGES", 300)
    monkeypatch.setattr(iot_pipeline.runtime, "tune_for_throughput", lambda: None)
    monkeypatch.setenv("MQTT_BROKER_HOST", "127.0.0.1")
    assert hotpath.measure() > 0


def test_publish_packet_is_a_qos1_publish() -> None:
    packet = hotpath.publish_packet("a/b", b"xyz", 258)
    assert packet == b"\x32\x0b\x00\x03a/b\x01\x02\x00xyz"
