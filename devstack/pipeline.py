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

from devstack import kafka_auth, kafka_users, lifecycle, proc, summary
from devstack.config import REPO_ROOT, StackConfig
from devstack.monitoring import KAFKA_LAG_EXPORTER_PORT
from devstack.services import all_services
from devstack.tls import tls_dir

SUMMARY_EVERY_S = 2.0
STOP_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class PipelineService:
    name: str
    script: str  # a repo-relative Python script, or an executable with `native=True`
    metrics_port: int  # 0: the service exposes no metrics
    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    native: bool = False

    def available(self) -> bool:
        return (REPO_ROOT / self.script).exists()

    def command(self) -> list[str]:
        program = [str(REPO_ROOT / self.script)]
        return [*program, *self.args] if self.native else [sys.executable, *program, *self.args]


EMULATOR = "esp32/ruuvitag_gateway/host/build/ruuvi-gateway-emulator"

# The simulator feeds Kafka directly. RuuviTag traffic reaches the adapter over MQTT from a second
# simulator in `ruuvi` mode, or, with PIPELINE_RUUVI_SOURCE=emulator, from the firmware's own core
# compiled for this machine (`make firmware-host` builds it), so the firmware's code runs live.
# Its tags: two RuuviTags in Format 5, one on legacy Format 3, and Ruuvi Airs heard in E1 only, in
# Format 6 only (a BLE 4 receiver) and in both (the adapter keeps E1): every data format reaches
# the dashboards, the Air quality one included.
RUUVI_SIMULATOR = PipelineService(
    "ruuvi-simulator",
    "run_producer.py",
    8004,
    {
        "IOT_SIMULATOR_MODE": "ruuvi",
        "SIMULATOR_METRICS_PORT": "8004",
        "IOT_NUM_DEVICES": "6",
        "IOT_RUUVI_FORMATS": "5,E1,3,6+E1,5,6",
    },
)
GATEWAY_EMULATOR = PipelineService(
    "gateway-emulator",
    EMULATOR,
    0,
    args=("--vectors", "tests/vectors/ruuvi_format5.json", "--forever", "--rate", "2"),
    native=True,
)
SERVICES = (
    PipelineService("simulator", "run_producer.py", 8000, {"IOT_SIMULATOR_MODE": "kafka"}),
    RUUVI_SIMULATOR,
    PipelineService("ruuvitag-adapter", "run_ruuvitag_adapter.py", 8002),
    PipelineService("alert-consumer", "run_consumer.py", 8001),
    PipelineService("timescaledb-sink", "run_timescaledb_sink.py", 8003),
    PipelineService("lake-archiver", "run_lake_archiver.py", 8005),
)


def chosen_services(ruuvi_source: str) -> list[PipelineService]:
    """The services to run; `ruuvi_source` is `simulator` or `emulator`."""
    if ruuvi_source not in ("simulator", "emulator"):
        raise ValueError(
            f"PIPELINE_RUUVI_SOURCE must be simulator or emulator, not {ruuvi_source!r}"
        )
    services = list(SERVICES)
    if ruuvi_source == "emulator":
        services[services.index(RUUVI_SIMULATOR)] = GATEWAY_EMULATOR
    return [service for service in services if service.available()]


# Which MQTT identity each service connects as (devstack.mqtt_auth), always over TLS.
MQTT_IDENTITY = {
    "ruuvitag-adapter": "ruuvitag-adapter",
    "ruuvi-simulator": "simulator",
    "gateway-emulator": "simulator",
}


def mqtt_login(cfg: StackConfig, service: PipelineService) -> tuple[dict[str, str], list[str]]:
    """The environment and extra arguments that connect ``service`` to the broker over TLS with
    its own identity (the emulator takes the user and CA as arguments, the password from
    MQTT_PASSWORD); nothing for services that do not use MQTT."""
    user = MQTT_IDENTITY.get(service.name)
    if user is None:
        return {}, []
    ca_file = str(tls_dir(cfg.state_dir) / "ca.pem")
    env = {
        "MQTT_USERNAME": user,
        "MQTT_PASSWORD": cfg.mqtt_password(user),
        "MQTT_TLS_ENABLED": "true",
        "MQTT_CA_FILE": ca_file,
        "MQTT_BROKER_PORT": str(cfg.mqtt_tls_port),
    }
    if not service.native:
        return env, []
    args = ["--port", str(cfg.mqtt_tls_port), "--username", user, "--cafile", ca_file]
    return {"MQTT_PASSWORD": env["MQTT_PASSWORD"]}, args


# Which Kafka principal each service logs in as (devstack.kafka_auth), always on the secured
# listener (SASL_SSL); the ruuvi-mode simulator and the emulator do not use Kafka.
KAFKA_IDENTITY = {
    "simulator": kafka_auth.SIMULATOR,
    "ruuvitag-adapter": kafka_auth.ADAPTER,
    "alert-consumer": kafka_auth.ALERTS,
    "timescaledb-sink": kafka_auth.SINK,
    "lake-archiver": kafka_auth.LAKE,
}


def kafka_login(cfg: StackConfig, service: PipelineService) -> dict[str, str]:
    """The environment that connects ``service`` to the secured listener as its own principal;
    nothing for services that do not use Kafka."""
    principal = KAFKA_IDENTITY.get(service.name)
    return {} if principal is None else kafka_users.client_env(cfg, principal)


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
    # The lake archiver's embedded catalog and warehouse live with the stack's other data.
    env.setdefault("LAKE_DIR", str(cfg.state_dir / "lake"))
    return env


def metric_samples(port: int, timeout: float = 5.0) -> dict[str, float]:
    """A service's /metrics on 127.0.0.1 as {'name{labels}': value}; OSError if it does not
    answer. (Used by the benchmarks and the end-to-end tests.)"""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body = response.read().decode()
    samples: dict[str, float] = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


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
            login_env, login_args = mqtt_login(self.cfg, service)
            login_env = {**kafka_login(self.cfg, service), **login_env}
            with self.logfile(service).open("ab") as log:
                self.children[service.name] = subprocess.Popen(
                    [*service.command(), *login_args],
                    cwd=REPO_ROOT,
                    env={**env, **service.env, **login_env},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # Ctrl-C reaches us only; we stop them in order
                )
            print(f"[run] started {service.name} (pid {self.children[service.name].pid})")

    def check_children(self, reported: set[str]) -> bool:
        """Print the log tail of each service that exited since the last call; True if any."""
        printed = False
        for service in self.services:
            child = self.children[service.name]
            if child.poll() is not None and service.name not in reported:
                reported.add(service.name)
                print(f"[run] {service.name} exited with status {child.returncode}; log tail:")
                print(proc.tail(self.logfile(service), 20))
                printed = True
        return printed

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

    def states(self) -> dict[str, tuple[bool | None, int | None]]:
        """(running, exit code) of each service started here."""
        states: dict[str, tuple[bool | None, int | None]] = {}
        for name, child in self.children.items():
            code = child.poll()
            states[name] = (code is None, code)
        return states

    def scrape_all(self) -> dict[str, str | None]:
        """Every service's /metrics text (None: not answering), and the lag exporter's."""
        ports = {s.name: s.metrics_port for s in self.services if s.metrics_port}
        ports["lag-exporter"] = KAFKA_LAG_EXPORTER_PORT
        return {name: scrape(port) for name, port in ports.items()}


class LiveSummary:
    """Scrapes every refresh and prints the table in place on a terminal, lines otherwise."""

    def __init__(self, supervisor: Supervisor, tty: bool) -> None:
        self._supervisor = supervisor
        self._tty = tty
        self._previous: dict[str, str | None] = {}
        self._height = 0

    def refresh(self, elapsed: float) -> str:
        texts = self._supervisor.scrape_all()
        states = self._supervisor.states()
        started = {s.name for s in self._supervisor.services}
        rows = [
            summary.stage_row(
                stage, texts, self._previous, states.get(stage.service, (None, None)), elapsed
            )
            for stage in summary.STAGES
            if stage.service in started
        ]
        self._previous = texts
        clock = time.strftime("%H:%M:%S")
        if not self._tty:
            return "\n".join(summary.plain(rows, clock)) + "\n"
        lines = summary.table(rows, clock)
        out = summary.redraw(lines, self._height)
        self._height = len(lines)
        return out

    def below_other_output(self) -> None:
        """Something else was printed: draw the next table under it, not over it."""
        self._height = 0


def run_pipeline(cfg: StackConfig) -> int:
    already_up = _stack_healthy(cfg)
    if lifecycle.up(cfg) != 0:
        return 1
    env = service_env(cfg)
    # The topics, made by the admin principal on the secured listener.
    admin = {**env, **kafka_users.client_env(cfg, kafka_auth.ADMIN)}
    topics = subprocess.run([sys.executable, "-m", "iot_pipeline.kafka.topics"], env=admin)
    if topics.returncode != 0:
        print("[run] creating the topics failed", file=sys.stderr)
        return 1
    ruuvi_source = os.environ.get("PIPELINE_RUUVI_SOURCE", "simulator")
    if ruuvi_source == "emulator" and not GATEWAY_EMULATOR.available():
        print("[run] building the gateway emulator (make firmware-host-build) ...")
        subprocess.run(["make", "-s", "firmware-host-build"], cwd=REPO_ROOT, check=True)
    services = chosen_services(ruuvi_source)
    supervisor = Supervisor(cfg, services)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    supervisor.start(env)
    print(f"[run] service logs: {supervisor.log_dir}/  -- Ctrl-C stops everything")
    live = LiveSummary(supervisor, sys.stdout.isatty())
    live.refresh(0.0)  # the first scrape: rates and p99 start from here
    reported: set[str] = set()
    last = time.monotonic()
    while not stop.wait(SUMMARY_EVERY_S):
        now = time.monotonic()
        if supervisor.check_children(reported):
            live.below_other_output()
        sys.stdout.write(live.refresh(now - last))
        sys.stdout.flush()
        last = now
    print("\n[run] stopping services ...")
    supervisor.stop()
    if not already_up:
        print("[run] stopping the stack this command started ...")
        lifecycle.down(cfg)
    else:
        print("[run] the stack was already up before `make run`; it stays up (`make down`).")
    return 0


def _stack_healthy(cfg: StackConfig) -> bool:
    return all(proc.running_record(s.pidfile(cfg)) is not None for s in all_services(cfg))
