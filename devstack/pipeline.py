"""``python -m devstack run``: the whole pipeline, live, on the local stack.

Brings the stack up (remembering whether it was already up), creates the topics, starts every
service that exists in this checkout as a child process (logs under the stack's logs folder), and
prints a live summary scraped from the services' own metrics endpoints until Ctrl-C. Ctrl-C stops
the services cleanly (SIGTERM: each flushes and commits), then stops the stack if this command
started it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from devstack import proc
from devstack.config import REPO_ROOT, StackConfig

SUMMARY_EVERY_S = 2.0
STOP_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class PipelineService:
    name: str
    script: str
    metrics_port: int
    env: dict[str, str] = field(default_factory=dict)

    def available(self) -> bool:
        return (REPO_ROOT / self.script).exists()


# The simulator feeds Kafka directly; a second simulator in `ruuvi` mode publishes the ESP32
# firmware's JSON to MQTT so the adapter's path runs too.
SERVICES = (
    PipelineService("simulator", "run_producer.py", 8000, {"IOT_SIMULATOR_MODE": "kafka"}),
    PipelineService(
        "ruuvi-simulator",
        "run_producer.py",
        8004,
        {
            "IOT_SIMULATOR_MODE": "ruuvi",
            "SIMULATOR_METRICS_PORT": "8004",
            "IOT_NUM_DEVICES": "4",
        },
    ),
    PipelineService("ruuvitag-adapter", "run_ruuvitag_adapter.py", 8002),
    PipelineService("alert-consumer", "run_consumer.py", 8001),
    PipelineService("timescaledb-sink", "run_timescaledb_sink.py", 8003),
)

# (label, service, metric) rows of the live summary; counters are shown as totals and rates.
SUMMARY_ROWS = (
    ("simulated readings -> Kafka", "simulator", "kafka_producer_messages_delivered_total"),
    ("ruuvi messages -> MQTT", "ruuvi-simulator", "iot_simulator_readings_total"),
    ("adapter records -> Kafka", "ruuvitag-adapter", "kafka_producer_messages_delivered_total"),
    ("rows stored in TimescaleDB", "timescaledb-sink", "iot_messages_processed_total"),
    ("alert events", "alert-consumer", "kafka_producer_messages_delivered_total"),
)


def service_env(cfg: StackConfig) -> dict[str, str]:
    """The services' settings for the local stack; what the user already set wins."""
    env = dict(os.environ)
    env.setdefault("KAFKA_BOOTSTRAP_SERVERS", cfg.kafka_bootstrap)
    env.setdefault("SCHEMA_REGISTRY_URL", cfg.registry_url)
    env.setdefault("POSTGRES_HOST", "127.0.0.1")
    env.setdefault("POSTGRES_PORT", str(cfg.postgres_port))
    env.setdefault("POSTGRES_DB", cfg.postgres_db)
    env.setdefault("POSTGRES_USER", cfg.postgres_user)
    env.setdefault("POSTGRES_PASSWORD", cfg.postgres_password)
    env.setdefault("MQTT_BROKER_HOST", "127.0.0.1")
    env.setdefault("MQTT_BROKER_PORT", str(cfg.mqtt_port))
    return env


def counter_total(text: str, metric: str) -> float:
    """Sum of every sample of a counter in a Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == metric:
                total += sample.value
    return total


def scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1.0) as response:
            return response.read().decode()
    except OSError:
        return None


class Supervisor:
    def __init__(self, cfg: StackConfig, services: Iterable[PipelineService]) -> None:
        self.cfg = cfg
        self.services = list(services)
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.log_dir = cfg.logs_dir / "pipeline"

    def logfile(self, service: PipelineService) -> Path:
        return self.log_dir / f"{service.name}.log"

    def start(self, env: dict[str, str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for service in self.services:
            with self.logfile(service).open("ab") as log:
                self.children[service.name] = subprocess.Popen(
                    [sys.executable, str(REPO_ROOT / service.script)],
                    cwd=REPO_ROOT,
                    env={**env, **service.env},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # Ctrl-C reaches us only; we stop them in order
                )
            print(f"[run] started {service.name} (pid {self.children[service.name].pid})")

    def check_children(self, reported: set[str]) -> None:
        for service in self.services:
            child = self.children[service.name]
            if child.poll() is not None and service.name not in reported:
                reported.add(service.name)
                print(f"[run] {service.name} exited with status {child.returncode}; log tail:")
                print(proc.tail(self.logfile(service), 20))

    def stop(self) -> None:
        # Producers first so the consumers can drain what was already sent.
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for name, child in self.children.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
                print(f"[run] {name} stopped (status {child.returncode})")
            except subprocess.TimeoutExpired:
                child.kill()
                print(f"[run] {name} did not stop within {STOP_TIMEOUT_S:.0f}s: killed")

    def summary(self, previous: dict[str, float], elapsed: float) -> list[str]:
        ports = {s.name: s.metrics_port for s in self.services}
        texts = {name: scrape(port) for name, port in ports.items()}
        lines = []
        for label, service, metric in SUMMARY_ROWS:
            if service not in ports:
                continue
            text = texts[service]
            if text is None:
                lines.append(f"  {label:<30} (metrics not reachable yet)")
                continue
            total = counter_total(text, metric)
            rate = (total - previous.get(label, total)) / elapsed if elapsed else 0.0
            previous[label] = total
            lines.append(f"  {label:<30} {total:>12,.0f} total  {rate:>9,.1f}/s")
        return lines


def run_pipeline(cfg: StackConfig) -> int:
    from devstack.cli import cmd_down, cmd_up

    already_up = _stack_healthy(cfg)
    if cmd_up(cfg) != 0:
        return 1
    env = service_env(cfg)
    topics = subprocess.run([sys.executable, "-m", "iot_pipeline.kafka.topics"], env=env)
    if topics.returncode != 0:
        print("[run] creating the topics failed", file=sys.stderr)
        return 1
    services = [s for s in SERVICES if s.available()]
    supervisor = Supervisor(cfg, services)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    supervisor.start(env)
    print(f"[run] service logs: {supervisor.log_dir}/  -- Ctrl-C stops everything")
    previous: dict[str, float] = {}
    reported: set[str] = set()
    last = time.monotonic()
    while not stop.wait(SUMMARY_EVERY_S):
        now = time.monotonic()
        supervisor.check_children(reported)
        print(time.strftime("%H:%M:%S"), "pipeline:")
        print("\n".join(supervisor.summary(previous, now - last)), flush=True)
        last = now
    print("\n[run] stopping services ...")
    supervisor.stop()
    if not already_up:
        print("[run] stopping the stack this command started ...")
        cmd_down(cfg)
    else:
        print("[run] the stack was already up before `make run`; it stays up (`make down`).")
    return 0


def _stack_healthy(cfg: StackConfig) -> bool:
    from devstack.services import all_services

    return all(proc.running_record(s.pidfile(cfg)) is not None for s in all_services(cfg))
