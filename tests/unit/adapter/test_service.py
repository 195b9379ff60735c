"""The adapter's loop: it waits for MQTT only while nothing awaits Kafka, and drain() gets every
message in flight confirmed and acknowledged."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry

from iot_pipeline.adapter.incoming import Incoming
from iot_pipeline.adapter.options import AdapterOptions
from iot_pipeline.adapter.pipeline import Adapter, AdapterMetrics
from iot_pipeline.adapter.service import drain, run
from tests.unit.adapter.fakes import FakeSink
from tests.unit.adapter.fakes import msg as _msg


class FakeSource:
    """Hands queued messages to the adapter, ``batch`` per service() call."""

    def __init__(self, adapter: Adapter, messages: list[Incoming], batch: int) -> None:
        self.adapter = adapter
        self.messages = messages
        self.batch = batch
        self.connected = True
        self.timeouts: list[float] = []

    def service(self, timeout: float) -> int:
        self.timeouts.append(timeout)
        handed = self.messages[: self.batch]
        del self.messages[: self.batch]
        for message in handed:
            self.adapter.handle(message)
        return len(handed)


def test_run_loop_handles_messages_until_stopped_and_drain_confirms() -> None:
    acks: list[tuple[int, int]] = []
    stop = threading.Event()

    class StoppingSink(FakeSink):
        def poll(self, timeout: float = 0) -> int:
            if not source.messages:
                stop.set()
            return 0

    sink = StoppingSink()
    adapter = Adapter(
        sink,
        "dlq",
        lambda mid, qos: acks.append((mid, qos)),
        AdapterOptions(),
        AdapterMetrics(CollectorRegistry()),
    )
    source = FakeSource(adapter, [_msg(b"{}", mid=mid) for mid in range(1, 4)], batch=2)
    run(adapter, source, sink, stop)
    assert len(sink.sent) == 3
    assert acks == []
    assert source.timeouts == [0.05, 0.0]  # waits for MQTT only while nothing is in flight
    assert drain(adapter, sink, timeout=1) == 0
    assert sorted(acks) == [(1, 1), (2, 1), (3, 1)]
