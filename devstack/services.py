"""The stack's services: every one, how each is configured, started and stopped, and the health
probe ``up``/``status`` wait for (standard library only at import time: the probes import the
virtual environment's client libraries when they run).

Kafka and the registry are in ``devstack.kafka_services``, PostgreSQL in ``devstack.postgres``, the
exporters and the SMTP sink in ``devstack.monitoring``; Mosquitto, Prometheus and Alertmanager here.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devstack import monitoring, probes
from devstack.config import REPO_ROOT, StackConfig
from devstack.kafka_services import KafkaBroker, Registry
from devstack.mosquitto import Mosquitto
from devstack.postgres import Postgres
from devstack.service_base import Service, SetupError, write_if_changed

PROMETHEUS_CONF = REPO_ROOT / "monitoring" / "prometheus" / "prometheus.yml"
ALERTMANAGER_CONF = REPO_ROOT / "monitoring" / "alertmanager" / "alertmanager.yml"


# ------------------------------------------------------------------------ Prometheus, Alertmanager
def shift_loopback_ports(text: str, offset: int) -> str:
    """Every ``127.0.0.1:<port>`` in a configuration moved by ``offset`` (a second stack)."""
    return re.sub(r"127\.0\.0\.1:(\d+)", lambda m: f"127.0.0.1:{int(m[1]) + offset}", text)


def shifted_conf(cfg: StackConfig, source: Path, name: str, rules_dir: Path | None = None) -> Path:
    """``source`` itself for the default ports, else a copy with shifted ports in the state dir
    (relative rule paths made absolute, as the copy lives elsewhere)."""
    if cfg.port_offset == 0:
        return source
    text = shift_loopback_ports(source.read_text(), cfg.port_offset)
    if rules_dir is not None:
        text = text.replace("- rules/", f"- {rules_dir}/")
    target = cfg.state_dir / name / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    write_if_changed(target, text)
    return target


@dataclass(eq=False)
class Prometheus(Service):
    def prepare(self, cfg: StackConfig) -> None:
        if not PROMETHEUS_CONF.exists():
            raise SetupError(f"prometheus: {PROMETHEUS_CONF} is missing")
        (cfg.state_dir / "prometheus").mkdir(parents=True, exist_ok=True)
        shifted_conf(cfg, PROMETHEUS_CONF, "prometheus-conf", PROMETHEUS_CONF.parent / "rules")

    def argv(self, cfg: StackConfig) -> list[str]:
        conf = (
            PROMETHEUS_CONF
            if cfg.port_offset == 0
            else (cfg.state_dir / "prometheus-conf" / PROMETHEUS_CONF.name)
        )
        return [
            "/usr/bin/prometheus",
            f"--config.file={conf}",
            f"--storage.tsdb.path={cfg.state_dir / 'prometheus'}",
            f"--web.listen-address=127.0.0.1:{cfg.prometheus_port}",
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=7d",
        ]


@dataclass(eq=False)
class Alertmanager(Service):
    def prepare(self, cfg: StackConfig) -> None:
        if not ALERTMANAGER_CONF.exists():
            raise SetupError(f"alertmanager: {ALERTMANAGER_CONF} is missing")
        (cfg.state_dir / "alertmanager").mkdir(parents=True, exist_ok=True)
        shifted_conf(cfg, ALERTMANAGER_CONF, "alertmanager-conf")

    def argv(self, cfg: StackConfig) -> list[str]:
        conf = (
            ALERTMANAGER_CONF
            if cfg.port_offset == 0
            else (cfg.state_dir / "alertmanager-conf" / ALERTMANAGER_CONF.name)
        )
        return [
            "/usr/bin/prometheus-alertmanager",
            f"--config.file={conf}",
            f"--storage.path={cfg.state_dir / 'alertmanager'}",
            f"--web.listen-address=127.0.0.1:{cfg.alertmanager_port}",
            "--cluster.listen-address=",
        ]


def all_services(cfg: StackConfig) -> list[Service]:
    brokers: list[Service] = [
        KafkaBroker(
            name=f"kafka-{n}",
            ports=(
                cfg.kafka_ports[n - 1],
                cfg.kafka_controller_ports[n - 1],
                cfg.kafka_secure_ports[n - 1],
            ),
            endpoint=f"127.0.0.1:{cfg.kafka_ports[n - 1]}",
            node_id=n,
            stop_timeout_s=40.0,
        )
        for n in (1, 2, 3)
    ]
    return [
        *brokers,
        Registry(name="registry", ports=(cfg.registry_port,), endpoint=cfg.registry_url),
        Mosquitto(
            name="mqtt",
            ports=(cfg.mqtt_port, cfg.mqtt_tls_port),
            endpoint=f"mqtt://127.0.0.1:{cfg.mqtt_port}",
            distro_service="mosquitto",
        ),
        Postgres(
            name="postgres",
            ports=(cfg.postgres_port,),
            endpoint=f"postgresql://{cfg.postgres_user}@127.0.0.1:{cfg.postgres_port}/{cfg.postgres_db}",
            stop_signal=signal.SIGINT,  # PostgreSQL's "fast" shutdown
            stop_timeout_s=60.0,
            distro_service="postgresql",
        ),
        Prometheus(
            name="prometheus",
            ports=(cfg.prometheus_port,),
            endpoint=f"http://127.0.0.1:{cfg.prometheus_port}",
            distro_service="prometheus",
        ),
        Alertmanager(
            name="alertmanager",
            ports=(cfg.alertmanager_port,),
            endpoint=f"http://127.0.0.1:{cfg.alertmanager_port}",
            distro_service="prometheus-alertmanager",
        ),
        *monitoring.monitoring_services(cfg),
    ]


def probe_for(
    name: str, cfg: StackConfig, kafka: probes.KafkaProbe, whole_cluster: bool = False
) -> Callable[[], str]:
    """The health probe of service ``name`` (a Kafka broker alone, or with ``whole_cluster``
    only once every broker is in the cluster)."""
    if name.startswith("kafka-"):
        node_id = int(name.split("-", 1)[1])
        return lambda: kafka.broker(node_id, require_all=whole_cluster)
    table: dict[str, Callable[[StackConfig], str]] = {
        "registry": probes.registry,
        "mqtt": probes.mqtt,
        "postgres": probes.postgres,
        "prometheus": probes.ready_endpoint(cfg.prometheus_port),
        "alertmanager": probes.ready_endpoint(cfg.alertmanager_port),
        **monitoring.probes(),
    }
    fn = table[name]
    return lambda: fn(cfg)
