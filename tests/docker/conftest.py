"""Fixtures for the Docker Compose deployment's tests.

`compose` is a real Docker Compose v2 binary (Debian trixie's docker-compose package, installed
idempotently by docker/tools/install-compose.sh into a cache outside the repository). It renders
and validates docker/docker-compose.yml without a Docker engine. Every compose run gets a scrubbed
environment, so a developer's exported variables (a real POSTGRES_PASSWORD, COMPOSE_PROFILES, ...)
cannot change what the tests see.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO / "docker"
COMPOSE_FILE = DOCKER_DIR / "docker-compose.yml"
ENV_EXAMPLE = DOCKER_DIR / ".env.example"
DOCKERFILE = DOCKER_DIR / "Dockerfile"
INSTALL_COMPOSE = DOCKER_DIR / "tools" / "install-compose.sh"

# Test values for the secrets .env.example leaves empty (never used outside these renders).
TEST_SECRETS = {
    "CLUSTER_ID": "MkU3OEVBNTcwNTJENDM2Qk",
    "POSTGRES_PASSWORD": "test-only-postgres-password",
    "GRAFANA_ADMIN_PASSWORD": "test-only-grafana-password",
    "POSTGRES_SINK_PASSWORD": "test-only-postgres-sink-password",
    "POSTGRES_READONLY_PASSWORD": "test-only-postgres-readonly-password",
    "POSTGRES_MONITORING_PASSWORD": "test-only-postgres-monitoring-password",
    "KAFKA_BROKER_PASSWORD": "test-only-kafka-broker-password",
    "KAFKA_ADMIN_PASSWORD": "test-only-kafka-admin-password",
    "KAFKA_SIMULATOR_PASSWORD": "test-only-kafka-simulator-password",
    "KAFKA_ADAPTER_PASSWORD": "test-only-kafka-adapter-password",
    "KAFKA_SINK_PASSWORD": "test-only-kafka-sink-password",
    "KAFKA_ALERTS_PASSWORD": "test-only-kafka-alerts-password",
    "KAFKA_LAKE_PASSWORD": "test-only-kafka-lake-password",
    "KAFKA_LAG_EXPORTER_PASSWORD": "test-only-kafka-lag-exporter-password",
    "KAFKA_REGISTRY_PASSWORD": "test-only-kafka-registry-password",
    "KAFKA_UI_PASSWORD": "test-only-kafka-ui-password",
    "MQTT_ADAPTER_PASSWORD": "test-only-mqtt-adapter-password",
    "MQTT_SIMULATOR_PASSWORD": "test-only-mqtt-simulator-password",
    "MQTT_EXPORTER_PASSWORD": "test-only-mqtt-exporter-password",
}
ALL_PROFILES = "simulator,gateway"


def parse_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines of a .env file (comments and blank lines skipped), in file order."""
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{path}:{number}: not a KEY=value line: {raw!r}")
        values[key.strip()] = value.strip()
    return values


def write_env_file(path: Path, values: Mapping[str, str]) -> Path:
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()), "utf-8")
    return path


@dataclass(frozen=True)
class Compose:
    binary: str

    def run(
        self, *args: str, env_file: Path, profiles: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}
        if profiles is not None:
            env["COMPOSE_PROFILES"] = profiles
        result = subprocess.run(
            [self.binary, "-f", str(COMPOSE_FILE), "--env-file", str(env_file), *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker compose {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
            )
        return result

    def model(self, env_file: Path, profiles: str | None = ALL_PROFILES) -> dict[str, Any]:
        """The fully interpolated compose model, as `docker compose config` renders it."""
        out = self.run("config", "--format", "json", env_file=env_file, profiles=profiles).stdout
        return json.loads(out)


@pytest.fixture(scope="session")
def compose() -> Compose:
    result = subprocess.run(
        ["bash", str(INSTALL_COMPOSE)], capture_output=True, text=True, timeout=900
    )
    if result.returncode != 0:
        pytest.fail(
            "could not install Docker Compose v2 (docker/tools/install-compose.sh):\n"
            + result.stderr[-4000:],
            pytrace=False,
        )
    binary = result.stdout.strip().splitlines()[-1]
    version = subprocess.run([binary, "version", "--short"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("2."), version
    return Compose(binary)


@pytest.fixture(scope="session")
def env_example() -> dict[str, str]:
    return parse_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="session")
def env_file_factory(
    tmp_path_factory: pytest.TempPathFactory, env_example: dict[str, str]
) -> Callable[..., Path]:
    """An env file: .env.example with the test secrets filled in, then the given overrides."""
    counter = iter(range(1_000_000))

    def make(**overrides: str) -> Path:
        values = {**env_example, **TEST_SECRETS, **overrides}
        path = tmp_path_factory.mktemp("compose-env") / f"{next(counter)}.env"
        return write_env_file(path, values)

    return make


@pytest.fixture(scope="session")
def env_file(env_file_factory: Callable[..., Path]) -> Path:
    return env_file_factory()


@pytest.fixture(scope="session")
def model(compose: Compose, env_file: Path) -> dict[str, Any]:
    """The rendered model with every profile enabled (all services)."""
    return compose.model(env_file, profiles=ALL_PROFILES)


@pytest.fixture(scope="session")
def services(model: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return model["services"]


@pytest.fixture(scope="session")
def grants(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The kafka-configs and kafka-acls commands init-security.sh runs (printed, not run)."""
    names = "BROKER ADMIN SIMULATOR ADAPTER SINK ALERTS LAKE LAG_EXPORTER REGISTRY UI"
    passwords = {f"KAFKA_{n}_PASSWORD": f"test-{n.lower()}" for n in names.split(" ")}
    properties = tmp_path_factory.mktemp("kafka-init") / "client.properties"
    result = subprocess.run(
        ["bash", str(DOCKER_DIR / "kafka" / "init-security.sh")],
        env={
            "PATH": os.environ["PATH"],
            **passwords,
            "KAFKA_TOOL_PREFIX": "echo",
            "BROKER_CLIENT_PROPERTIES": str(properties),
        },
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert properties.stat().st_mode & 0o077 == 0
    return result.stdout.splitlines()
