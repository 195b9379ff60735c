"""Where the stack keeps its downloads and state, which ports it uses, and the pinned versions.

Everything here is read from the environment when ``StackConfig.from_env()`` is called (never at
import time). Downloads are cached outside the repository; state (data, logs, pid files) too.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

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
    kafka_heap_opts: str = "-Xms256m -Xmx512m"
    registry_port: int = 8081
    registry_heap_opts: str = "-Xms128m -Xmx384m"
    # Apicurio keeps its schemas in the stack's PostgreSQL, in a database and role of its own.
    registry_db: str = "apicurio_registry"
    registry_db_user: str = "apicurio_registry"
    registry_db_password: str = "apicurio_password"
    mqtt_port: int = 1883
    postgres_port: int = 5432
    postgres_db: str = "iot_data"
    postgres_user: str = "iot_user"
    postgres_password: str = "iot_password"
    prometheus_port: int = 9090
    alertmanager_port: int = 9095
    up_timeout_s: float = 300.0
    env: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> StackConfig:
        env = dict(os.environ if environ is None else environ)
        cache = Path(env.get("IOT_STACK_CACHE_DIR") or Path.home() / ".cache" / "iot-pipeline")
        state = Path(env.get("IOT_STACK_STATE_DIR") or _default_state_dir())
        return cls(
            state_dir=state,
            cache_dir=cache,
            kafka_version=_pom_property("kafka.version"),
            apicurio_version=_pom_property("apicurio.version"),
            jmx_exporter_version=_pom_property("jmx.exporter.version"),
            kafka_cluster_id=env.get("KAFKA_CLUSTER_ID", DEFAULT_KAFKA_CLUSTER_ID),
            kafka_heap_opts=env.get("KAFKA_HEAP_OPTS", cls.kafka_heap_opts),
            postgres_port=int(env.get("POSTGRES_PORT", cls.postgres_port)),
            postgres_password=env.get("POSTGRES_PASSWORD", cls.postgres_password),
            registry_db_password=env.get("REGISTRY_DB_PASSWORD", cls.registry_db_password),
            up_timeout_s=float(env.get("IOT_STACK_UP_TIMEOUT", cls.up_timeout_s)),
            env=env,
        )

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
