"""Where the stack keeps its downloads and state, which ports it uses, and the pinned versions.

Everything here is read from the environment when ``StackConfig.from_env()`` is called (never at
import time). Downloads are cached outside the repository; state (data, logs, pid files) too.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from devstack import secrets as stack_secrets

REPO_ROOT = Path(__file__).resolve().parent.parent
POM = Path(__file__).resolve().parent / "pom.xml"

# "iot-pipeline-dev" as a base64 UUID: a fixed, valid KRaft cluster id.
DEFAULT_KAFKA_CLUSTER_ID = "aW90LXBpcGVsaW5lLWRldg"
PG_MAJOR = "15"
TIMESCALEDB_SOURCE_VERSION = "2.19.3"


def _pom_property(name: str) -> str:
    match = re.search(rf"<{re.escape(name)}>([^<]+)</{re.escape(name)}>", POM.read_text())
    if not match:
        raise RuntimeError(f"property {name} missing from {POM}")
    return match.group(1).strip()


def _default_state_dir() -> Path:
    # As root, PostgreSQL runs as the 'postgres' user, which cannot enter /root: use /var/lib.
    if os.geteuid() == 0:
        return Path("/var/lib/iot-pipeline-stack")
    return Path.home() / ".local" / "share" / "iot-pipeline-stack"


def shift_ports(ports: tuple[int, int, int], offset: int) -> tuple[int, int, int]:
    a, b, c = (p + offset for p in ports)
    return a, b, c


@dataclass(frozen=True)
class StackConfig:
    state_dir: Path
    cache_dir: Path
    kafka_version: str
    apicurio_version: str
    jmx_exporter_version: str
    kafka_cluster_id: str
    kafka_ports: tuple[int, int, int] = (29092, 29093, 29094)
    kafka_controller_ports: tuple[int, int, int] = (29192, 29193, 29194)
    # The secured listener (SASL_SSL, SCRAM-SHA-512): what the pipeline's services use.
    kafka_secure_ports: tuple[int, int, int] = (29392, 29393, 29394)
    kafka_heap_opts: str = "-Xms256m -Xmx512m"
    registry_port: int = 8081
    registry_heap_opts: str = "-Xms128m -Xmx384m"
    # Apicurio keeps its schemas in the stack's PostgreSQL, in a database and role of its own.
    registry_db: str = "apicurio_registry"
    registry_db_user: str = "apicurio_registry"
    # Passwords: generated at random into the state directory (devstack.secrets) unless the
    # environment sets them; never written in the repository.
    registry_db_password: str = ""
    mqtt_port: int = 1883
    mqtt_tls_port: int = 8883
    postgres_port: int = 5432
    postgres_db: str = "iot_data"
    postgres_user: str = "iot_user"
    postgres_password: str = ""
    prometheus_port: int = 9090
    alertmanager_port: int = 9095
    up_timeout_s: float = 300.0
    # Added to every listening port (IOT_STACK_PORT_OFFSET): a second stack beside the first.
    port_offset: int = 0
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    env: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> StackConfig:
        """The stack's configuration, with the passwords ``make up`` generated into the state
        directory (empty before the first ``up``: see ``with_secrets``)."""

        env = dict(os.environ if environ is None else environ)
        cache = Path(env.get("IOT_STACK_CACHE_DIR") or Path.home() / ".cache" / "iot-pipeline")
        state = Path(env.get("IOT_STACK_STATE_DIR") or _default_state_dir())
        offset = int(env.get("IOT_STACK_PORT_OFFSET", "0"))
        secrets = stack_secrets.load(state)
        return cls(
            state_dir=state,
            cache_dir=cache,
            kafka_version=_pom_property("kafka.version"),
            apicurio_version=_pom_property("apicurio.version"),
            jmx_exporter_version=_pom_property("jmx.exporter.version"),
            kafka_cluster_id=env.get("KAFKA_CLUSTER_ID", DEFAULT_KAFKA_CLUSTER_ID),
            kafka_ports=shift_ports(cls.kafka_ports, offset),
            kafka_controller_ports=shift_ports(cls.kafka_controller_ports, offset),
            kafka_secure_ports=shift_ports(cls.kafka_secure_ports, offset),
            kafka_heap_opts=env.get("KAFKA_HEAP_OPTS", cls.kafka_heap_opts),
            registry_port=cls.registry_port + offset,
            mqtt_port=cls.mqtt_port + offset,
            mqtt_tls_port=cls.mqtt_tls_port + offset,
            postgres_port=int(env.get("POSTGRES_PORT", cls.postgres_port + offset)),
            postgres_password=env.get("POSTGRES_PASSWORD") or secrets.get("postgres_password", ""),
            registry_db_password=(
                env.get("REGISTRY_DB_PASSWORD") or secrets.get("registry_db_password", "")
            ),
            prometheus_port=cls.prometheus_port + offset,
            alertmanager_port=cls.alertmanager_port + offset,
            up_timeout_s=float(env.get("IOT_STACK_UP_TIMEOUT", cls.up_timeout_s)),
            port_offset=offset,
            secrets=secrets,
            env=env,
        )

    def with_secrets(self) -> StackConfig:
        """This configuration once its secrets exist (generated now if missing)."""
        values = stack_secrets.load_or_create(self.state_dir)
        return dataclasses.replace(
            self,
            postgres_password=self.env.get("POSTGRES_PASSWORD") or values["postgres_password"],
            registry_db_password=(
                self.env.get("REGISTRY_DB_PASSWORD") or values["registry_db_password"]
            ),
            secrets=values,
        )

    def mqtt_password(self, user: str) -> str:
        return stack_secrets.mqtt_password(self.secrets, user)

    def kafka_password(self, principal: str) -> str:
        return stack_secrets.kafka_password(self.secrets, principal)

    def port(self, default: int) -> int:
        """Where a service whose default port is ``default`` listens in this stack."""
        return default + self.port_offset

    # ---- derived locations -------------------------------------------------------------------
    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def kafka_home(self) -> Path:
        return self.cache_dir / f"kafka-{self.kafka_version}"

    @property
    def apicurio_home(self) -> Path:
        return self.cache_dir / f"apicurio-registry-{self.apicurio_version}"

    @property
    def jmx_exporter_jar(self) -> Path:
        return (
            self.cache_dir
            / f"jmx-exporter-{self.jmx_exporter_version}"
            / "jmx_prometheus_javaagent.jar"
        )

    @property
    def pg_bindir(self) -> Path:
        return Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")

    @property
    def pg_socket_dir(self) -> Path:
        return self.state_dir / "postgresql" / "socket"

    @property
    def kafka_bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.kafka_ports)

    @property
    def kafka_secure_bootstrap(self) -> str:
        """The secured listener (SASL_SSL): what services connect to with their principal."""
        return ",".join(f"127.0.0.1:{p}" for p in self.kafka_secure_ports)

    @property
    def registry_url(self) -> str:
        """What clients use as SCHEMA_REGISTRY_URL (Apicurio serves the Confluent API here)."""
        return f"http://127.0.0.1:{self.registry_port}/apis/ccompat/v7"

    @property
    def registry_jdbc_url(self) -> str:
        return f"jdbc:postgresql://127.0.0.1:{self.postgres_port}/{self.registry_db}"

    @property
    def postgres_dsn(self) -> str:
        return (
            f"postgresql://{self.postgres_user}:{self.postgres_password}"
            f"@127.0.0.1:{self.postgres_port}/{self.postgres_db}"
        )
