"""The backup CronJob's own scripts (dump, verify) and the restore procedure
(deploy/kubernetes/tools/restore-timescaledb.sh), run against a real TimescaleDB: a private
PostgreSQL cluster with the timescaledb extension that `make up` installs, started here on a free
port (the shared stack is not touched), migrated with the pipeline's migrations."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.config import PG_MAJOR
from tests.deploy.apiserver import free_port
from tests.deploy.conftest import ROOT

PG_BIN = Path(f"/usr/lib/postgresql/{PG_MAJOR}/bin")  # the native stack's PostgreSQL
RESTORE = ROOT / "deploy/kubernetes/tools/restore-timescaledb.sh"
PASSWORD = uuid.uuid4().hex


def as_postgres(*argv: str) -> list[str]:
    """Run as the postgres OS user when root (initdb refuses root)."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)


@pytest.fixture(scope="module")
def postgres() -> Iterator[dict[str, str]]:
    """libpq environment of a private TimescaleDB with the pipeline's schema and a few readings."""
    if not (PG_BIN / "initdb").exists():
        pytest.fail(f"PostgreSQL {PG_MAJOR} not found: `make up` installs it", pytrace=False)
    work = Path(f"/tmp/iot-k8s-pg-{uuid.uuid4().hex[:8]}")
    work.mkdir(mode=0o700)
    if os.geteuid() == 0:
        shutil.chown(work, "postgres", "postgres")
    port = free_port()
    data = work / "data"
    subprocess.run(
        as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"),
        check=True,
        capture_output=True,
    )
    options = (
        f"-p {port} -k {work} -c listen_addresses=127.0.0.1 "
        "-c shared_preload_libraries=timescaledb -c timescaledb.telemetry_level=off"
    )
    subprocess.run(
        as_postgres(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-w",
            "-l",
            str(work / "log"),
            "start",
        ),
        check=True,
        capture_output=True,
    )
    env = {
        "PATH": f"{PG_BIN}:/usr/bin:/bin",
        "PGHOST": "127.0.0.1",
        "PGPORT": str(port),
        "PGUSER": "iot_user",
        "PGDATABASE": "iot_data",
        "PGPASSWORD": PASSWORD,
    }
    try:
        subprocess.run(
            [
                "psql",
                "-v",
                "ON_ERROR_STOP=1",
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
                f"CREATE ROLE iot_user SUPERUSER LOGIN PASSWORD '{PASSWORD}'",
                "-c",
                "CREATE DATABASE iot_data OWNER iot_user",
            ],
            check=True,
            capture_output=True,
            env=env,
        )
        migrate_env = {
            **os.environ,
            "POSTGRES_HOST": "127.0.0.1",
            "POSTGRES_PORT": str(port),
            "POSTGRES_DB": "iot_data",
            "POSTGRES_USER": "iot_user",
            "POSTGRES_PASSWORD": PASSWORD,
            "POSTGRES_MIGRATIONS_DIR": str(ROOT / "database/migrations"),
        }
        result = subprocess.run(
            [sys.executable, "-m", "iot_pipeline.storage.migrate"],
            capture_output=True,
            text=True,
            env=migrate_env,
            cwd=ROOT,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        psql(
            env,
            'INSERT INTO sensor_readings (device_id, device_type, "timestamp", value, unit) '
            "SELECT 'dev-' || (i % 5), 'temperature', now() - i * interval '1 minute', "
            "20 + i / 100.0, 'C' FROM generate_series(1, 500) AS i",
        )
        yield env
    finally:
        subprocess.run(
            as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"),
            capture_output=True,
        )
        shutil.rmtree(work, ignore_errors=True)


def psql(env: dict[str, str], sql: str, database: str = "iot_data") -> str:
    result = subprocess.run(
        ["psql", "-v", "ON_ERROR_STOP=1", "-Atc", sql, "-d", database],
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def backup_pod(rendered: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    cronjob = next(o for o in rendered["local"] if o["kind"] == "CronJob")
    return cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def run_container_script(container: dict[str, Any], work: Path, env: dict[str, str]) -> str:
    """A container's `sh -ec SCRIPT` with its volumes (/backups, /secrets) moved to work/."""
    assert container["command"][:2] == ["sh", "-ec"]
    script = container["command"][2].replace("/backups", f"{work}/backups")
    script = script.replace("/secrets/", f"{work}/secrets/")
    fixed = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    # The pod's own connection settings, pointed at the private server.
    run_env = {**fixed, **{k: v for k, v in env.items() if k != "PGPASSWORD"}}
    result = subprocess.run(["sh", "-ec", script], capture_output=True, text=True, env=run_env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_nightly_dump_verifies_and_restores(postgres, rendered, tmp_path):
    pod = backup_pod(rendered)
    (tmp_path / "backups").mkdir()
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets/POSTGRES_PASSWORD").write_text(PASSWORD)
    dump_step = next(c for c in pod["initContainers"] if c["name"] == "pg-dump")
    assert {e["name"] for e in dump_step["env"]} >= {"PGHOST", "PGUSER", "PGDATABASE"}
    for _ in range(2):
        run_container_script(dump_step, tmp_path, postgres)
    dumps = sorted((tmp_path / "backups").glob("iot_data-*.dump"))
    assert dumps and not list((tmp_path / "backups").glob("*.partial"))
    verify = next(c for c in pod["initContainers"] if c["name"] == "verify")
    run_container_script(verify, tmp_path, postgres)

    before = psql(postgres, "SELECT count(*), round(sum(value)::numeric, 2) FROM sensor_readings")
    psql(postgres, "DELETE FROM sensor_readings")  # the loss the backup is for
    latest = (tmp_path / "backups/LATEST").read_text().strip()
    result = subprocess.run(
        ["sh", str(RESTORE), str(tmp_path / f"backups/iot_data-{latest}.dump")],
        capture_output=True,
        text=True,
        env=postgres,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    after = psql(postgres, "SELECT count(*), round(sum(value)::numeric, 2) FROM sensor_readings")
    assert after == before and before.startswith("500|")
    # Still a hypertable after the restore.
    assert (
        psql(
            postgres,
            "SELECT count(*) FROM timescaledb_information.hypertables "
            "WHERE hypertable_name = 'sensor_readings'",
        )
        == "1"
    )


def test_a_failed_verification_fails_the_job(postgres, rendered, tmp_path):
    """The verify step can fail: a dump without the readings table is refused."""
    (tmp_path / "backups").mkdir()
    env = {**postgres}
    subprocess.run(
        [
            "pg_dump",
            "--format=custom",
            "--schema-only",
            "--table=schema_migrations",
            f"--file={tmp_path}/backups/iot_data-x.dump",
        ],
        check=True,
        env=env,
    )
    (tmp_path / "backups/LATEST").write_text("x\n")
    verify = next(c for c in backup_pod(rendered)["initContainers"] if c["name"] == "verify")
    script = verify["command"][2].replace("/backups", f"{tmp_path}/backups")
    result = subprocess.run(["sh", "-ec", script], capture_output=True, text=True, env=env)
    assert result.returncode != 0
