"""The monitoring side of the native stack: exporters, the SMTP sink for Alertmanager's e-mail,
and what ``up``/``status`` do for monitoring (standard library only, like the rest of devstack).

    node-exporter       9100  Debian's prometheus-node-exporter (host metrics)
    postgres-exporter   9187  Debian's prometheus-postgres-exporter, monitoring/postgres/queries.yml
    mosquitto-exporter  9234  python -m iot_pipeline.exporters.mosquitto ($SYS topics)
    lag-exporter        9308  python -m iot_pipeline.exporters.kafka_lag (consumer-group lag)
    smtp-sink           1025  python -m devstack.smtp_sink: Alertmanager's e-mail, one file a
                              mail in <state>/mail/new

The Kafka brokers' JMX exporter agent (7071-7073) is set up in devstack/services.py.
"""

from __future__ import annotations

import json
import smtplib
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack import kafka_users
from devstack.config import REPO_ROOT, StackConfig
from devstack.kafka_auth import LAG_EXPORTER
from devstack.probes import ProbeError
from devstack.service_base import Service, SetupError

POSTGRES_QUERIES = REPO_ROOT / "monitoring" / "postgres" / "queries.yml"
DEBIAN_PACKAGES = ["prometheus-node-exporter", "prometheus-postgres-exporter"]
NODE_EXPORTER_PORT = 9100
POSTGRES_EXPORTER_PORT = 9187
MOSQUITTO_EXPORTER_PORT = 9234
KAFKA_LAG_EXPORTER_PORT = 9308
SMTP_SINK_PORT = 1025
EXPORTER_USER = "mosquitto-exporter"  # devstack.mqtt_auth.EXPORTER
# node_exporter: only the collectors the alerts and dashboards use (less work per scrape).
NODE_COLLECTORS = ("cpu", "meminfo", "filesystem", "loadavg", "diskstats", "netdev", "uname")


def maildir(cfg: StackConfig) -> Path:
    """Where the SMTP sink stores Alertmanager's e-mail (a Maildir: new/ holds one file a mail)."""
    return cfg.state_dir / "mail"


@dataclass(eq=False)
class NodeExporter(Service):
    def argv(self, cfg: StackConfig) -> list[str]:
        return [
            "/usr/bin/prometheus-node-exporter",
            f"--web.listen-address=127.0.0.1:{cfg.port(NODE_EXPORTER_PORT)}",
            "--collector.disable-defaults",
            *(f"--collector.{c}" for c in NODE_COLLECTORS),
        ]


@dataclass(eq=False)
class PostgresExporter(Service):
    def prepare(self, cfg: StackConfig) -> None:
        if not POSTGRES_QUERIES.exists():
            raise SetupError(f"postgres-exporter: {POSTGRES_QUERIES} is missing")

    def argv(self, cfg: StackConfig) -> list[str]:
        return [
            "/usr/bin/prometheus-postgres-exporter",
            f"--web.listen-address=127.0.0.1:{cfg.port(POSTGRES_EXPORTER_PORT)}",
            f"--extend.query-path={POSTGRES_QUERIES}",
        ]

    def env(self, cfg: StackConfig) -> dict[str, str]:
        # Least privilege: pg_monitor and reading the readings (devstack.postgres.LOGIN_ROLES).
        password = cfg.secrets["postgres_iot_monitoring_password"]
        dsn = (
            f"postgresql://iot_monitoring:{password}@127.0.0.1:{cfg.postgres_port}/"
            f"{cfg.postgres_db}?sslmode=disable"
        )
        return {**cfg.env, "DATA_SOURCE_NAME": dsn}


@dataclass(eq=False)
class PythonModuleService(Service):
    """A module run with the virtual environment's Python (the one running devstack)."""

    module: str = ""

    def args(self, cfg: StackConfig) -> list[str]:
        return []

    def argv(self, cfg: StackConfig) -> list[str]:
        return [sys.executable, "-m", self.module, *self.args(cfg)]

    def cwd(self, cfg: StackConfig) -> Path:
        return REPO_ROOT


@dataclass(eq=False)
class MosquittoExporter(PythonModuleService):
    def args(self, cfg: StackConfig) -> list[str]:
        return [
            "--mqtt-port",
            str(cfg.mqtt_port),
            "--mqtt-username",
            EXPORTER_USER,
            "--port",
            str(cfg.port(MOSQUITTO_EXPORTER_PORT)),
        ]

    def env(self, cfg: StackConfig) -> dict[str, str]:
        # The password travels in the environment, not on the command line.
        return {**cfg.env, "MQTT_PASSWORD": cfg.mqtt_password(EXPORTER_USER)}


@dataclass(eq=False)
class KafkaLagExporter(PythonModuleService):
    def args(self, cfg: StackConfig) -> list[str]:
        return [
            "--bootstrap-servers",
            cfg.kafka_secure_bootstrap,
            "--port",
            str(cfg.port(KAFKA_LAG_EXPORTER_PORT)),
        ]

    def env(self, cfg: StackConfig) -> dict[str, str]:
        # On the secured listener as its own principal: the login in the environment, as for
        # every service (KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, KAFKA_SSL_CA_LOCATION).
        return {**cfg.env, **kafka_users.client_env(cfg, LAG_EXPORTER)}


@dataclass(eq=False)
class SmtpSink(PythonModuleService):
    def args(self, cfg: StackConfig) -> list[str]:
        return ["--port", str(cfg.port(SMTP_SINK_PORT)), "--maildir", str(maildir(cfg))]


def monitoring_services(cfg: StackConfig) -> list[Service]:
    return [
        NodeExporter(
            name="node-exporter",
            ports=(cfg.port(NODE_EXPORTER_PORT),),
            endpoint=f"http://127.0.0.1:{cfg.port(NODE_EXPORTER_PORT)}/metrics",
            distro_service="prometheus-node-exporter",
        ),
        PostgresExporter(
            name="postgres-exporter",
            ports=(cfg.port(POSTGRES_EXPORTER_PORT),),
            endpoint=f"http://127.0.0.1:{cfg.port(POSTGRES_EXPORTER_PORT)}/metrics",
            distro_service="prometheus-postgres-exporter",
        ),
        MosquittoExporter(
            name="mosquitto-exporter",
            ports=(cfg.port(MOSQUITTO_EXPORTER_PORT),),
            endpoint=f"http://127.0.0.1:{cfg.port(MOSQUITTO_EXPORTER_PORT)}/metrics",
            module="iot_pipeline.exporters.mosquitto",
        ),
        KafkaLagExporter(
            name="lag-exporter",
            ports=(cfg.port(KAFKA_LAG_EXPORTER_PORT),),
            endpoint=f"http://127.0.0.1:{cfg.port(KAFKA_LAG_EXPORTER_PORT)}/metrics",
            module="iot_pipeline.exporters.kafka_lag",
        ),
        SmtpSink(
            name="smtp-sink",
            ports=(cfg.port(SMTP_SINK_PORT),),
            endpoint=f"smtp://127.0.0.1:{cfg.port(SMTP_SINK_PORT)} -> {maildir(cfg)}",
            module="devstack.smtp_sink",
        ),
    ]


# ------------------------------------------------------------------------------------ probes
def _get(url: str, timeout_s: float = 5.0) -> str:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return resp.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        raise ProbeError(f"GET {url}: {exc}") from exc


def metrics_probe(port: int, expect: str, meaning: str) -> Callable[[StackConfig], str]:
    """GET /metrics on ``port`` (the default; shifted by the stack's port offset) must answer and
    contain the line ``expect`` (e.g. the exporter's own 'up')."""

    def probe(cfg: StackConfig) -> str:
        text = _get(f"http://127.0.0.1:{cfg.port(port)}/metrics")
        if not any(line.startswith(expect) for line in text.splitlines()):
            raise ProbeError(f"/metrics has no '{expect}' yet ({meaning})")
        return f"/metrics: {meaning}"

    return probe


def smtp_probe(cfg: StackConfig) -> str:
    try:
        with smtplib.SMTP("127.0.0.1", cfg.port(SMTP_SINK_PORT), timeout=5) as smtp:
            code, _ = smtp.noop()
    except (OSError, smtplib.SMTPException) as exc:
        raise ProbeError(f"SMTP 127.0.0.1:{cfg.port(SMTP_SINK_PORT)}: {exc}") from exc
    if code != 250:
        raise ProbeError(f"SMTP NOOP answered {code}")
    return "SMTP NOOP 250"


def probes() -> dict[str, Callable[[StackConfig], str]]:
    return {
        "node-exporter": metrics_probe(NODE_EXPORTER_PORT, "node_load1 ", "host metrics"),
        "postgres-exporter": metrics_probe(POSTGRES_EXPORTER_PORT, "pg_up 1", "pg_up 1"),
        "mosquitto-exporter": metrics_probe(
            MOSQUITTO_EXPORTER_PORT, "mosquitto_broker_up 1", "broker connected"
        ),
        "lag-exporter": metrics_probe(
            KAFKA_LAG_EXPORTER_PORT, "kafka_lag_exporter_up 1", "brokers polled"
        ),
        "smtp-sink": smtp_probe,
    }


# --------------------------------------------------------------------- up and status helpers
def reload_config(cfg: StackConfig) -> str:
    """Make a running Prometheus and Alertmanager re-read this checkout's configuration."""
    done = []
    for name, port in (
        ("prometheus", cfg.prometheus_port),
        ("alertmanager", cfg.alertmanager_port),
    ):
        request = urllib.request.Request(f"http://127.0.0.1:{port}/-/reload", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30):
                done.append(name)
        except (urllib.error.URLError, OSError) as exc:
            raise SetupError(f"{name}: reloading its configuration failed: {exc}") from exc
    return "configuration reloaded: " + ", ".join(done)


def format_targets(targets: list[dict[str, Any]]) -> list[str]:
    """Prometheus' active targets as aligned lines: job, address, health, last error."""
    rows = sorted(
        (t["labels"].get("job", "?"), t["labels"].get("instance", "?"), t["health"], t["lastError"])
        for t in targets
    )
    job_w = max((len(r[0]) for r in rows), default=3)
    inst_w = max((len(r[1]) for r in rows), default=8)
    return [
        f"  {job:<{job_w}}  {inst:<{inst_w}}  {health:<7}  {error}".rstrip()
        for job, inst, health, error in rows
    ]


def target_health_lines(cfg: StackConfig) -> list[str]:
    """One line per Prometheus scrape target (or why they could not be read)."""
    url = f"http://127.0.0.1:{cfg.prometheus_port}/api/v1/targets?state=active"
    try:
        targets = json.loads(_get(url))["data"]["activeTargets"]
    except (ProbeError, ValueError, KeyError) as exc:
        return [f"  (Prometheus targets unavailable: {exc})"]
    return format_targets(targets)
