"""Fixtures for tests that use the real local stack (``make up``, devstack).

The ``stack`` session fixture checks the stack and starts it (``python -m devstack up``) if any
service is unhealthy. Every name a test creates is unique (topics, consumer groups, PostgreSQL
schemas), so the suite can run again and again, and beside other runs, without restarting anything.
Areas add their own fixtures in tests/<area>/conftest.py.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devstack.config import REPO_ROOT, StackConfig
from devstack.kafka_users import client_env
from devstack.pipeline import service_env


def _devstack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )


def stack_postgres_password() -> str:
    """The application role's password: POSTGRES_PASSWORD when set, else the one ``make up``
    generated into the stack's state directory (read when a test runs, after ``up``)."""
    return os.environ.get("POSTGRES_PASSWORD") or StackConfig.from_env().postgres_password


MQTT_TEST_USER = "pipeline-tests"  # devstack.mqtt_auth.TESTS: may use any topic but $SYS


def stack_mqtt_credentials() -> tuple[str, str]:
    """The native stack's MQTT identity for tests and benchmarks (the broker refuses anonymous
    clients); its password is the one ``make up`` generated."""
    return MQTT_TEST_USER, StackConfig.from_env().mqtt_password(MQTT_TEST_USER)


def stack_kafka_login(principal: str) -> dict[str, str]:
    """The settings that start a service on the brokers' secured listener (SASL_SSL) as its own
    principal (devstack.kafka_auth): the end-to-end tests run every service this way, on topics
    and groups whose names the principals' test-prefix ACLs cover (unique_name's prefixes)."""
    return client_env(StackConfig.from_env(), principal)


@pytest.fixture(scope="session")
def stack() -> StackConfig:
    """The running local stack's configuration; starts the stack if it is not healthy."""
    if _devstack("status").returncode != 0:
        result = _devstack("up")
        if result.returncode != 0:
            pytest.fail(
                "the local stack did not come up (python -m devstack up):\n"
                + result.stdout[-4000:]
                + result.stderr[-4000:],
                pytrace=False,
            )
    return StackConfig.from_env()


def pytest_configure(config: pytest.Config) -> None:
    """A second stack (IOT_STACK_PORT_OFFSET): every setting the tests and the services they start
    load from the environment points at it, as `make run` does (devstack.pipeline.service_env).
    Endpoints only, no secrets; nothing changes for the default stack."""
    cfg = StackConfig.from_env()
    if cfg.port_offset:
        env = service_env(cfg)
        for key in ("KAFKA_BOOTSTRAP_SERVERS", "SCHEMA_REGISTRY_URL", "POSTGRES_PORT"):
            os.environ.setdefault(key, env[key])
        os.environ.setdefault("MQTT_BROKER_PORT", str(cfg.mqtt_port))


def role_dsn(stack: StackConfig, user: str) -> str:
    """libpq URI for one of the least-privilege login users (devstack.postgres.LOGIN_ROLES)."""
    password = stack.secrets[f"postgres_{user}_password"]
    return f"postgresql://{user}:{password}@127.0.0.1:{stack.postgres_port}/{stack.postgres_db}"


@pytest.fixture(scope="session")
def readonly_dsn(stack: StackConfig) -> str:
    """The read-only role Grafana and psql users connect as."""
    return role_dsn(stack, "iot_readonly")


@pytest.fixture(scope="session")
def kafka_bootstrap_servers(stack: StackConfig) -> str:
    return stack.kafka_bootstrap


@pytest.fixture(scope="session")
def schema_registry_url(stack: StackConfig) -> str:
    """Confluent-compatible API base URL (what SCHEMA_REGISTRY_URL holds)."""
    return stack.registry_url


@pytest.fixture(scope="session")
def schema_registry_client(schema_registry_url: str):  # -> SchemaRegistryClient
    from confluent_kafka.schema_registry import SchemaRegistryClient

    return SchemaRegistryClient({"url": schema_registry_url})


@pytest.fixture(scope="session")
def mqtt_host(stack: StackConfig) -> str:
    return "127.0.0.1"


@pytest.fixture(scope="session")
def mqtt_port(stack: StackConfig) -> int:
    return stack.mqtt_port


@pytest.fixture(scope="session")
def postgres_dsn(stack: StackConfig) -> str:
    """libpq URI for the application role on the TimescaleDB database."""
    return stack.postgres_dsn


@pytest.fixture(scope="session")
def kafka_admin(kafka_bootstrap_servers: str):  # -> AdminClient
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": kafka_bootstrap_servers})


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """``unique_name("readings")`` -> ``"readings-3f9c2a1b7d4e"``: unique per call and per run."""

    def make(prefix: str = "test") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    return make


@pytest.fixture
def kafka_topic_factory(
    kafka_admin, unique_name: Callable[[str], str]
) -> Iterator[Callable[..., str]]:
    """Make unique topics (default 6 partitions, RF 3, min.insync.replicas 2); delete them after."""
    from iot_pipeline.kafka.topics import TopicSpec, ensure_topics

    created: list[str] = []

    def make(
        prefix: str = "test",
        partitions: int = 6,
        replication_factor: int = 3,
        config: dict[str, str] | None = None,
    ) -> str:
        name = unique_name(prefix)
        spec = TopicSpec(
            name, partitions, replication_factor, {"min.insync.replicas": "2", **(config or {})}
        )
        ensure_topics(kafka_admin, [spec])
        created.append(name)
        # Wait until every partition has a leader in the metadata of every broker (each answer comes
        # from any one broker, and a new topic reaches them a moment apart): several in a row.
        deadline = time.monotonic() + 30
        in_a_row = 0
        while time.monotonic() < deadline:
            topic = kafka_admin.list_topics(name, timeout=10).topics.get(name)
            ready = (
                topic is not None
                and topic.error is None
                and len(topic.partitions) == partitions
                and all(p.leader >= 0 for p in topic.partitions.values())
            )
            in_a_row = in_a_row + 1 if ready else 0
            if in_a_row >= 6:
                return name
            time.sleep(0.1)
        raise AssertionError(f"topic {name} has no leaders after 30 s")

    yield make
    if created:
        for future in kafka_admin.delete_topics(created, operation_timeout=30).values():
            try:
                future.result()
            except Exception as exc:  # teardown must not hide the test's own result
                print(f"could not delete test topic: {exc}", file=sys.stderr)


@pytest.fixture
def consumer_group_factory(kafka_admin, unique_name: Callable[[str], str]) -> Iterator[Callable]:
    """Unique consumer group ids; the groups are deleted after the test (once empty)."""
    groups: list[str] = []

    def make(prefix: str = "test-group") -> str:
        group = unique_name(prefix)
        groups.append(group)
        return group

    yield make
    if groups:
        for future in kafka_admin.delete_consumer_groups(groups, request_timeout=15).values():
            # A group that never joined, or is already gone, has nothing to clean.
            with contextlib.suppress(Exception):
                future.result()


@pytest.fixture
def pg_schema_factory(postgres_dsn: str, unique_name: Callable[[str], str]) -> Iterator[Callable]:
    """Create unique PostgreSQL schemas in the TimescaleDB database; dropped (CASCADE) after."""
    import psycopg2

    schemas: list[str] = []

    def make(prefix: str = "test") -> str:
        schema = unique_name(prefix).replace("-", "_").lower()
        conn = psycopg2.connect(postgres_dsn)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(f'CREATE SCHEMA "{schema}"')
        finally:
            conn.close()
        schemas.append(schema)
        return schema

    yield make
    if schemas:
        conn = psycopg2.connect(postgres_dsn)
        try:
            with conn, conn.cursor() as cur:
                for schema in schemas:
                    cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            conn.close()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
