"""Tests that build and run the real images. They need a Docker engine: where none is reachable
(these development machines, CI here) they are skipped, and the skip says why.

The whole-stack test publishes its ports on 127.0.0.2 so it does not collide with the native stack
(`make up`, on 127.0.0.1); it uses the compose file's fixed container names, so it cannot run while
a user's own `docker compose up` of this project is running."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.docker.conftest import DOCKER_DIR, ENV_EXAMPLE, REPO, TEST_SECRETS, parse_env_file

pytestmark = pytest.mark.docker

PYTHON_TARGETS = ("producer", "ruuvitag-adapter", "consumer", "timescaledb-sink")
STACK_ADDRESS = "127.0.0.2"


def docker_engine_problem() -> str | None:
    """None when a Docker engine answers; otherwise why not."""
    try:
        import docker

        docker.from_env(timeout=5).ping()
    except Exception as error:  # any failure means: no usable engine here
        return f"no Docker engine reachable ({type(error).__name__}: {error})"
    return None


@pytest.fixture(scope="module")
def docker_client() -> Any:
    problem = docker_engine_problem()
    if problem:
        pytest.skip(f"needs a Docker engine to build and run the images: {problem}")
    import docker

    return docker.from_env()


@pytest.fixture(scope="module")
def built_images(docker_client: Any) -> dict[str, str]:
    tags = {}
    for target in PYTHON_TARGETS:
        tag = f"iot-pipeline-test/{target}:{uuid.uuid4().hex[:8]}"
        docker_client.images.build(
            path=str(REPO), dockerfile="docker/Dockerfile", target=target, tag=tag, rm=True
        )
        tags[target] = tag
    yield tags
    for tag in tags.values():
        docker_client.images.remove(tag, force=True)


@pytest.mark.parametrize("target", PYTHON_TARGETS)
def test_python_image_runs_the_package_as_non_root_with_a_healthcheck(
    docker_client: Any, built_images: dict[str, str], target: str
) -> None:
    tag = built_images[target]
    output = docker_client.containers.run(
        tag,
        ["python", "-c", "import os, iot_pipeline.config.settings as s; print(os.getuid())"],
        remove=True,
    )
    assert int(output.decode().strip()) != 0
    config = docker_client.images.get(tag).attrs["Config"]
    assert "healthcheck.py" in " ".join(config["Healthcheck"]["Test"])


def test_migrations_apply_on_the_compose_timescaledb_image(
    docker_client: Any, services: dict[str, Any], tmp_path: Path
) -> None:
    from sqlalchemy import create_engine, text
    from testcontainers.postgres import PostgresContainer

    image = services["timescaledb"]["image"]
    with PostgresContainer(image, username="iot_user", password="pw", dbname="iot_data") as pg:
        env = {
            **os.environ,
            "POSTGRES_HOST": pg.get_container_host_ip(),
            "POSTGRES_PORT": str(pg.get_exposed_port(5432)),
            "POSTGRES_DB": "iot_data",
            "POSTGRES_USER": "iot_user",
            "POSTGRES_PASSWORD": "pw",
        }
        for _ in range(2):  # the second run must be a no-op
            result = subprocess.run(
                [sys.executable, "-m", "iot_pipeline.storage.migrate"],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert result.returncode == 0, result.stderr
        engine = create_engine(pg.get_connection_url())
        with engine.connect() as conn:
            assert conn.execute(text("SHOW timescaledb.license")).scalar() == "timescale"
            applied = conn.execute(text("SELECT count(*) FROM schema_migrations")).scalar()
            assert applied and applied >= 1
        engine.dispose()


@pytest.fixture
def stack_env_file(env_file_factory: Callable[..., Path], docker_client: Any) -> Iterator[Path]:
    yield env_file_factory(
        BIND_ADDRESS=STACK_ADDRESS,
        MQTT_BIND_ADDRESS=STACK_ADDRESS,
        COMPOSE_PROFILES="simulator",
        IOT_PIPELINE_IMAGE_TAG=f"test-{uuid.uuid4().hex[:8]}",
    )


@pytest.mark.e2e
def test_whole_stack_delivers_simulated_readings_to_timescaledb(
    stack_env_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg2
    from testcontainers.compose import DockerCompose

    from iot_pipeline.config.settings import Settings

    # Compose prefers the shell's variables over the env file: keep a developer's out.
    for name in {*parse_env_file(ENV_EXAMPLE), *(f.upper() for f in Settings.model_fields)}:
        monkeypatch.delenv(name, raising=False)

    stack = DockerCompose(
        context=str(DOCKER_DIR),
        compose_file_name="docker-compose.yml",
        env_file=str(stack_env_file),
        build=True,
        wait=False,
    )
    stack.start()
    try:
        deadline = time.monotonic() + 900
        rows = 0
        last_error = ""
        while time.monotonic() < deadline and rows == 0:
            try:
                with (
                    psycopg2.connect(
                        host=STACK_ADDRESS,
                        port=5432,
                        dbname="iot_data",
                        user="iot_user",
                        password=TEST_SECRETS["POSTGRES_PASSWORD"],
                        connect_timeout=5,
                    ) as conn,
                    conn.cursor() as cur,
                ):
                    cur.execute("SELECT count(*) FROM sensor_readings")
                    rows = cur.fetchone()[0]
            except psycopg2.Error as error:
                last_error = str(error)
            if rows == 0:
                time.sleep(10)
        logs = "" if rows else stack.get_logs()[0][-6000:]
        assert rows > 0, f"no readings reached TimescaleDB ({last_error})\n{logs}"
    finally:
        stack.stop(down=True)
