"""Fakes for the adapter's pure-logic tests: a record sink whose deliveries the test completes,
the delivery report's record, a settable clock, and MQTT messages."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from iot_pipeline.adapter.incoming import Incoming

RECEIVED = datetime(2026, 11, 23, 13, 37, 1, tzinfo=UTC)


@dataclass
class FakeMessage:
    """What a delivery callback reads of confluent_kafka.Message."""

    _topic: str
    _key: bytes | None
    _value: bytes | None
    _headers: list[tuple[str, bytes]] | None

    def topic(self) -> str:
        return self._topic

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers


class FakeSink:
    """Records enqueue calls; the test decides when and how each delivery completes."""

    topic = "readings"

    def __init__(self, fail_serialize: bool = False) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail_serialize = fail_serialize
        self.raise_on_produce = 0
        self.raise_on_batch = 0
        self.refuse_in_batch: set[int] = set()

    def serialize(self, value: Mapping[str, Any]) -> bytes:
        if self.fail_serialize:
            raise ValueError("does not fit the schema")
        return json.dumps(value, default=str).encode()

    def enqueue(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        on_delivery: Callable[[Any, Any], None],
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        if self.raise_on_produce:
            self.raise_on_produce -= 1
            raise RuntimeError("local queue unavailable")
        self.sent.append(
            {"topic": topic, "key": key, "value": value, "headers": headers, "cb": on_delivery}
        )

    def enqueue_batch(
        self,
        topic: str,
        records: list[tuple[bytes | None, bytes | None]],
        on_delivery: Callable[[Any, Any], None],
    ) -> list[tuple[int, Any]]:
        """Like produce_batch(): raise_on_batch fails the whole call (nothing enqueued),
        refuse_in_batch refuses those positions (the rest is enqueued)."""
        if self.raise_on_batch:
            self.raise_on_batch -= 1
            raise RuntimeError("producer closed")
        refused = []
        for i, (key, value) in enumerate(records):
            if i in self.refuse_in_batch:
                refused.append((i, "refused"))
                continue
            self.sent.append(
                {"topic": topic, "key": key, "value": value, "headers": None, "cb": on_delivery}
            )
        self.refuse_in_batch = set()
        return refused

    def deliver(self, index: int | None = None, error: object = None) -> None:
        items = self.sent if index is None else [self.sent[index]]
        for item in items:
            if not item.get("done"):
                item["done"] = True
                message = FakeMessage(item["topic"], item["key"], item["value"], item["headers"])
                item["cb"](error, message)

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 30.0) -> int:
        self.deliver()
        return 0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def msg(payload: Any, mid: int = 1, topic: str = "ruuvitag/data", qos: int = 1) -> Incoming:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return Incoming(topic, raw, mid, qos, RECEIVED, 0.0)
