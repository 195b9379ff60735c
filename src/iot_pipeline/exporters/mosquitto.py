"""Prometheus exporter for Mosquitto's ``$SYS/#`` topics.

    python -m iot_pipeline.exporters.mosquitto --mqtt-host 127.0.0.1 --mqtt-port 1883 --port 9234

Mosquitto publishes its statistics as retained plain-text messages under ``$SYS/broker/...`` every
``sys_interval`` seconds (10 s by default). This exporter subscribes to them with paho and serves
the latest values on /metrics: totals as counters, levels as gauges, the moving averages of
``$SYS/broker/load/...`` as gauges with a ``window`` label, the version as an info metric, and
``mosquitto_broker_up`` (1 while connected and $SYS messages keep arriving).

Why our own: no Mosquitto exporter is installable from the registries this project may use (the
usual Go exporters are not served by the Go module proxy here, and the PyPI ``mqtt-exporter``
reads JSON payloads, not $SYS text). The mapping is pure (``parse_sys_message``) and unit-tested.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

SYS_PREFIX = "$SYS/broker/"
STALE_AFTER_S = 60.0  # three missed sys_interval updates (plus margin) count as down

# Plain numeric topics (relative to $SYS/broker/): metric name, kind, help.
COUNTERS = {
    "messages/received": ("mosquitto_messages_received", "MQTT packets of any type received."),
    "messages/sent": ("mosquitto_messages_sent", "MQTT packets of any type sent."),
    "publish/messages/received": ("mosquitto_publish_messages_received", "PUBLISH received."),
    "publish/messages/sent": ("mosquitto_publish_messages_sent", "PUBLISH sent."),
    "publish/messages/dropped": (
        "mosquitto_publish_messages_dropped",
        "PUBLISH dropped (queue limits, offline clients).",
    ),
    "publish/bytes/received": ("mosquitto_publish_bytes_received", "PUBLISH payload bytes in."),
    "publish/bytes/sent": ("mosquitto_publish_bytes_sent", "PUBLISH payload bytes out."),
    "bytes/received": ("mosquitto_bytes_received", "Bytes received on all connections."),
    "bytes/sent": ("mosquitto_bytes_sent", "Bytes sent on all connections."),
    "clients/expired": ("mosquitto_clients_expired", "Persistent sessions expired."),
}
GAUGES = {
    "clients/connected": ("mosquitto_clients_connected", "Clients connected now."),
    "clients/active": ("mosquitto_clients_connected", "Clients connected now."),  # older name
    "clients/disconnected": (
        "mosquitto_clients_disconnected",
        "Persistent-session clients disconnected now.",
    ),
    "clients/inactive": (
        "mosquitto_clients_disconnected",
        "Persistent-session clients disconnected now.",
    ),
    "clients/total": ("mosquitto_clients_total", "Connected plus disconnected sessions."),
    "clients/maximum": ("mosquitto_clients_maximum", "Most clients connected at once."),
    "messages/stored": ("mosquitto_messages_stored", "Messages held in the store."),
    "store/messages/count": ("mosquitto_store_messages", "Messages held in the store."),
    "store/messages/bytes": ("mosquitto_store_bytes", "Payload bytes held in the store."),
    "retained messages/count": ("mosquitto_retained_messages", "Retained messages."),
    "subscriptions/count": ("mosquitto_subscriptions", "Active subscriptions."),
    "heap/current": ("mosquitto_heap_bytes", "Heap memory in use."),
    "heap/maximum": ("mosquitto_heap_max_bytes", "Most heap memory in use since start."),
}
UPTIME = "uptime"
VERSION = "version"
LOAD_RE = re.compile(r"load/(?P<what>[a-z]+(?:/[a-z]+)?)/(?P<window>1min|5min|15min)")


@dataclass(frozen=True, slots=True)
class Sample:
    """One value read from a $SYS topic."""

    name: str
    kind: str  # "counter" | "gauge" | "info"
    help: str
    value: float | str
    labels: tuple[tuple[str, str], ...] = ()


def _number(payload: str) -> float | None:
    try:
        return float(payload.strip().split()[0])
    except (ValueError, IndexError):
        return None


def parse_sys_message(topic: str, payload: bytes | bytearray) -> Sample | None:
    """Map one $SYS message to a sample; None for topics this exporter does not export or for
    payloads that are not what the topic should carry (never raises)."""
    if not topic.startswith(SYS_PREFIX):
        return None
    key = topic[len(SYS_PREFIX) :]
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if key == VERSION:
        version = text.strip().removeprefix("mosquitto version ").strip()
        if not version:
            return None
        return Sample(
            "mosquitto_broker", "info", "Broker version.", version, (("version", version),)
        )
    if key == UPTIME:  # "132 seconds"
        value = _number(text)
        if value is None:
            return None
        return Sample(
            "mosquitto_uptime_seconds", "gauge", "Seconds since the broker started.", value
        )
    if key in COUNTERS or key in GAUGES:
        value = _number(text)
        if value is None:
            return None
        kind = "counter" if key in COUNTERS else "gauge"
        name, help_text = COUNTERS[key] if key in COUNTERS else GAUGES[key]
        return Sample(name, kind, help_text, value)
    match = LOAD_RE.fullmatch(key)
    if match:
        value = _number(text)
        if value is None:
            return None
        what = match.group("what").replace("/", "_")
        return Sample(
            f"mosquitto_load_{what}_per_minute",
            "gauge",
            f"Moving average of {match.group('what')} per minute over the window.",
            value,
            (("window", match.group("window")),),
        )
    return None


class SysState:
    """The latest value of every exported $SYS sample (thread-safe), and the connection state."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._samples: dict[tuple[str, tuple[tuple[str, str], ...]], Sample] = {}
        self._connected = False
        self._last_message: float | None = None
        self.ignored = 0

    def set_connected(self, connected: bool) -> None:
        with self._lock:
            self._connected = connected

    def update(self, topic: str, payload: bytes | bytearray) -> bool:
        sample = parse_sys_message(topic, payload)
        with self._lock:
            self._last_message = self._clock()
            if sample is None:
                self.ignored += 1
                return False
            if sample.kind == "info":  # one version at a time
                self._samples = {k: s for k, s in self._samples.items() if s.kind != "info"}
            self._samples[(sample.name, sample.labels)] = sample
            return True

    def up(self) -> bool:
        with self._lock:
            fresh = (
                self._last_message is not None
                and self._clock() - self._last_message <= STALE_AFTER_S
            )
            return self._connected and fresh

    def samples(self) -> list[Sample]:
        with self._lock:
            return sorted(self._samples.values(), key=lambda s: (s.name, s.labels))


class SysCollector(Collector):
    """Turns the state into metric families at scrape time."""

    def __init__(self, state: SysState) -> None:
        self._state = state

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | InfoMetricFamily]:
        up = GaugeMetricFamily(
            "mosquitto_broker_up",
            "1 while the exporter is connected to the broker and $SYS updates arrive.",
        )
        up.add_metric([], 1.0 if self._state.up() else 0.0)
        yield up
        families: dict[str, CounterMetricFamily | GaugeMetricFamily | InfoMetricFamily] = {}
        for s in self._state.samples():
            label_names = [k for k, _ in s.labels]
            label_values = [v for _, v in s.labels]
            family = families.get(s.name)
            if family is None:
                if s.kind == "counter":
                    family = CounterMetricFamily(s.name, s.help, labels=label_names)
                elif s.kind == "info":
                    family = InfoMetricFamily(s.name, s.help)
                else:
                    family = GaugeMetricFamily(s.name, s.help, labels=label_names)
                families[s.name] = family
            if isinstance(family, InfoMetricFamily):
                family.add_metric([], dict(s.labels))
            else:
                assert isinstance(s.value, float)
                family.add_metric(label_values, s.value)
        yield from families.values()


def main(argv: list[str] | None = None) -> int:
    import paho.mqtt.client as paho
    from loguru import logger
    from prometheus_client import start_http_server

    from iot_pipeline.observability.logging import configure_logging

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mqtt-host", default="127.0.0.1")
    parser.add_argument("--mqtt-port", type=int, default=1883)
    parser.add_argument(
        "--mqtt-username", default=None, help="user name; the password is read from MQTT_PASSWORD"
    )
    parser.add_argument("--listen-host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9234)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    configure_logging(args.log_level, "text", service="mosquitto-exporter")

    state = SysState()
    registry = CollectorRegistry()
    registry.register(SysCollector(state))
    start_http_server(args.port, addr=args.listen_host, registry=registry)

    client = paho.Client(
        paho.CallbackAPIVersion.VERSION2,
        client_id=f"mosquitto-exporter-{uuid.uuid4().hex[:8]}",
    )

    def on_connect(c: paho.Client, _u: object, _f: object, rc: object, _p: object = None) -> None:
        if getattr(rc, "is_failure", False):
            logger.warning("MQTT connect refused: {}", rc)
            return
        state.set_connected(True)
        c.subscribe("$SYS/#", qos=0)
        logger.info("connected to {}:{}, subscribed to $SYS/#", args.mqtt_host, args.mqtt_port)

    def on_disconnect(*_args: object) -> None:
        state.set_connected(False)
        logger.warning("disconnected from the MQTT broker; reconnecting")

    def on_message(_c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        state.update(msg.topic, msg.payload)

    if args.mqtt_username:
        client.username_pw_set(args.mqtt_username, os.environ.get("MQTT_PASSWORD"))
    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.on_message = on_message
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    logger.info("serving /metrics on {}:{}", args.listen_host, args.port)
    # connect_async + retry_first_connection: keep trying while the broker is not up yet.
    client.connect_async(args.mqtt_host, args.mqtt_port, keepalive=30)
    with contextlib.suppress(KeyboardInterrupt):
        client.loop_forever(retry_first_connection=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
