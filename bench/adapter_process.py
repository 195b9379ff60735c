"""The adapter bench's plumbing: test messages, publishing them with mosquitto_pub, the paho
reference, the adapter as a process (its metrics and CPU), draining a run, and percentiles of
its latency histogram."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt

from devstack.config import StackConfig
from devstack.mqtt_auth import TESTS
from devstack.pipeline import metric_samples
from iot_pipeline.ruuvi import FormatE1Reading, RuuviReading, encode_hex, formate1

REPO = Path(__file__).resolve().parents[1]
# The data format of the bench's messages: 5 (RuuviTag, the hot path) or E1 (Ruuvi Air).
FORMAT = os.environ.get("BENCH_ADAPTER_FORMAT", "5").upper()
if FORMAT not in ("5", "E1"):
    raise SystemExit(f"BENCH_ADAPTER_FORMAT must be 5 or E1, not {FORMAT!r}")


def bench_login() -> tuple[str, str]:
    """The native stack's MQTT identity for tests and benchmarks (topics of their own); the
    broker refuses anonymous clients. Its password is the one ``make up`` generated."""
    cfg = StackConfig.from_env()
    return TESTS, cfg.mqtt_password(TESTS)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def message(sequence: int) -> str:
    """One firmware-format message of BENCH_ADAPTER_FORMAT; unique (tag, sequence) per number."""
    return e1_message(sequence) if FORMAT == "E1" else format5_message(sequence)


def e1_message(sequence: int) -> str:
    tag = f"BE:AC:E1:00:{sequence // 65535 // 256:02X}:{sequence // 65535 % 256:02X}"
    reading = FormatE1Reading(
        0xE1, 21.0 + sequence % 100 / 10, 41.5, 100500, 3.1, 4.2, 5.3, 6.4, 650 + sequence % 400,
        101, 2, 312.5, sequence % 65535, False, tag,
    )  # fmt: skip
    payload = {
        "gateway_id": "bench-gw",
        "gateway_mac": "24:0A:C4:12:34:56",
        "mac": tag,
        "rssi": -60,
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "data_format": 0xE1,
        "raw": formate1.encode_hex(reading),
        **{k: v for k, v in reading.to_dict().items() if k not in ("mac", "data_format")},
    }
    return json.dumps(payload)


def format5_message(sequence: int) -> str:
    tag = f"BE:AC:00:00:{sequence // 65535 // 256:02X}:{sequence // 65535 % 256:02X}"
    reading = RuuviReading(
        5,
        20.0 + sequence % 100 / 10,
        45.5,
        100500,
        0.012,
        -0.004,
        1.001,
        4,
        2.95,
        sequence % 255,
        sequence % 65535,
        tag,
    )
    payload = {
        "gateway_id": "bench-gw",
        "gateway_mac": "24:0A:C4:12:34:56",
        "mac": tag,
        "rssi": -60,
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "data_format": 5,
        "raw": encode_hex(reading),
        **{k: v for k, v in reading.to_dict().items() if k not in ("mac", "data_format")},
    }
    return json.dumps(payload)


def publish_lines(port: int, topic: str, lines: Path, cafile: Path | None = None) -> None:
    """mosquitto_pub -l at QoS 1 (over TLS with ``cafile``)."""
    tls = ["--cafile", str(cafile)] if cafile else []
    with lines.open("rb") as stdin:
        subprocess.run(
            [
                "mosquitto_pub",
                *tls,
                "-h",
                "127.0.0.1",
                "-u",
                bench_login()[0],
                "-P",
                bench_login()[1],
                "-p",
                str(port),
                "-q",
                "1",
                "-M",
                "1000",
                "-t",
                topic,
                "-l",
            ],
            stdin=stdin,
            check=True,
            timeout=600,
        )


def reference_rate(port: int, lines: Path, count: int) -> tuple[float, int, float]:
    """mosquitto_pub -> Mosquitto -> paho subscriber (QoS 1, MQTT 5 with the adapter's Receive
    Maximum): messages/s up to the last message received, how many arrived, and the CPU seconds
    this process (the subscriber) spent."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    topic = f"bench/reference/{uuid.uuid4().hex[:8]}"
    received = 0
    last = time.monotonic()
    subscribed = threading.Event()

    def on_message(_c: object, _u: object, _m: object) -> None:
        nonlocal received, last
        received += 1
        last = time.monotonic()

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"bench-ref-{uuid.uuid4().hex[:6]}",
        protocol=mqtt.MQTTv5,
    )
    client.username_pw_set(*bench_login())
    client.on_message = on_message
    client.on_subscribe = lambda *_: subscribed.set()
    properties = Properties(PacketTypes.CONNECT)
    properties.ReceiveMaximum = 65535
    client.connect("127.0.0.1", port, properties=properties)
    client.subscribe(topic, qos=1)
    client.loop_start()
    subscribed.wait(10)
    started = time.monotonic()
    cpu_started = time.process_time()
    publish_lines(port, topic, lines)
    while received < count and time.monotonic() - last < 5:
        time.sleep(0.1)
    cpu = time.process_time() - cpu_started
    elapsed = max(last - started, 1e-9)
    client.disconnect()
    client.loop_stop()
    return received / elapsed, received, cpu


class AdapterProcess:
    """``run_ruuvitag_adapter.py`` (or another service ``script``) as a child process, its
    metrics scraped from /metrics on the port its ``port_setting`` names."""

    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        script: str = "run_ruuvitag_adapter.py",
        port_setting: str = "ADAPTER_METRICS_PORT",
        root: Path = REPO,
    ) -> None:
        """``root``: the checkout whose code runs (another version's, to compare with)."""
        self.port = int(env[port_setting])
        self._log = log.open("ab")
        if root != REPO:
            env = {**env, "PYTHONPATH": str(root / "src")}
        self.proc = subprocess.Popen(
            [sys.executable, str(root / script)],
            cwd=root,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system, every thread: librdkafka's too) the adapter used so far;
        None where /proc is not available."""
        try:
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        except OSError:
            return None
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def metrics(self) -> dict[str, float]:
        try:
            return metric_samples(self.port)
        except OSError:
            return {}

    def wait(self, condition, timeout: float) -> bool:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the adapter exited; see its log")
            if condition(self.metrics()):
                return True
            time.sleep(0.1)
        return False

    def wait_connected(self) -> bool:
        connected = self.wait(lambda m: m.get("mqtt_adapter_mqtt_connected") == 1.0, 120)
        time.sleep(1.0)  # the subscription follows the connection: give the SUBACK a moment
        return connected

    def stop(self) -> None:
        if self._log.closed:
            return
        with contextlib.suppress(Exception):
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)
        if self.proc.poll() is None:
            self.proc.kill()
        self._log.close()


def histogram(metrics: dict[str, float], name: str) -> list[tuple[float, float]]:
    buckets = []
    for key, value in metrics.items():
        if key.startswith(f'{name}_bucket{{le="'):
            le = key.split('"')[1]
            buckets.append((float("inf") if le == "+Inf" else float(le), value))
    return sorted(buckets)


def percentile(
    before: list[tuple[float, float]], after: list[tuple[float, float]], q: float
) -> float:
    """q-quantile of the observations between two snapshots of a cumulative histogram,
    interpolated linearly inside the bucket."""
    base = dict(before)
    counts = [(le, value - base.get(le, 0.0)) for le, value in after]
    total = counts[-1][1] if counts else 0.0
    if total <= 0:
        return float("nan")
    rank = q * total
    lower_le, lower_count = 0.0, 0.0
    for le, cumulative in counts:
        if cumulative >= rank:
            if le == float("inf"):
                return lower_le
            inside = cumulative - lower_count
            fraction = (rank - lower_count) / inside if inside else 1.0
            return lower_le + (le - lower_le) * fraction
        lower_le, lower_count = le, cumulative
    return lower_le


@dataclass
class Drained:
    handled: int
    elapsed: float
    published: float
    before: list[dict[str, float]]
    after: list[dict[str, float]]
    cpu: list[float | None]

    @property
    def rate(self) -> float:
        return self.handled / self.elapsed

    @property
    def per_adapter(self) -> list[float]:
        key = "mqtt_adapter_messages_received_total"
        pairs = zip(self.before, self.after, strict=True)
        return [a.get(key, 0.0) - b.get(key, 0.0) for b, a in pairs]


def drain_rate(
    adapters: list[AdapterProcess],
    port: int,
    topic: str,
    lines: Path,
    count: int,
    cafile: Path | None = None,
) -> Drained | None:
    """Publish ``lines`` to ``topic`` and wait until the adapters handled and acknowledged all
    of them (or nothing moved for 15 s: the broker dropped some, reported by the caller)."""
    key = "mqtt_adapter_messages_received_total"
    before = [a.metrics() for a in adapters]
    cpu_before = [a.cpu_seconds() for a in adapters]
    base = sum(m.get(key, 0.0) for m in before)
    started = time.monotonic()
    publish_lines(port, topic, lines, cafile)
    published = time.monotonic() - started
    last_count, last_change = -1.0, time.monotonic()
    while True:
        after = [a.metrics() for a in adapters]
        handled = sum(m.get(key, 0.0) for m in after) - base
        idle = all(m.get("mqtt_adapter_pending_messages", 1) == 0 for m in after)
        if handled != last_count:
            last_count, last_change = handled, time.monotonic()
        if (handled >= count and idle) or (idle and time.monotonic() - last_change > 15):
            break
        if time.monotonic() - started > 600 or any(a.proc.poll() is not None for a in adapters):
            print("the adapter did not finish within 600 s", file=sys.stderr)
            return None
        # Not faster: each scrape costs the adapter a few ms of its one core.
        time.sleep(0.25)
    elapsed = (time.monotonic() if handled >= count else last_change) - started
    cpu = [
        None if b is None or a is None else a - b
        for b, a in zip(cpu_before, [x.cpu_seconds() for x in adapters], strict=True)
    ]
    return Drained(int(last_count), elapsed, published, before, after, cpu)
