"""The owner's jobs on the real PostgreSQL: compose's login step (docker/init/pg_logins.py, the
native stack's SQL) makes the least-privilege logins idempotently over verified TLS, and the
maintenance CLI's healthcheck tells a working owner connection from a refused one."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg2
import pytest

from devstack.config import REPO_ROOT, StackConfig
from devstack.tls import tls_dir
from tests.conftest import role_dsn

pytestmark = pytest.mark.integration


def owner_env(stack: StackConfig, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": str(stack.postgres_port),
        "POSTGRES_DB": stack.postgres_db,
        "POSTGRES_USER": stack.postgres_user,
        "POSTGRES_PASSWORD": stack.postgres_password,
        "POSTGRES_SSLMODE": "verify-full",
        "POSTGRES_SSLROOTCERT": str(tls_dir(stack.state_dir) / "ca.pem"),
        **extra,
    }


def test_compose_login_step_makes_the_logins_with_their_passwords(stack: StackConfig) -> None:
    # The stack's own passwords: running it changes nothing for the other tests.
    env = owner_env(
        stack,
        DEVSTACK_PARENT=str(REPO_ROOT),
        POSTGRES_SINK_PASSWORD=stack.secrets["postgres_iot_sink_password"],
        POSTGRES_READONLY_PASSWORD=stack.secrets["postgres_iot_readonly_password"],
        POSTGRES_MONITORING_PASSWORD=stack.secrets["postgres_iot_monitoring_password"],
    )
    for _ in range(2):  # idempotent
        result = subprocess.run(
            [sys.executable, str(REPO_ROOT / "docker" / "init" / "pg_logins.py")],
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
    conn = psycopg2.connect(role_dsn(stack, "iot_sink"))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_has_role('iot_sink', 'iot_writer', 'MEMBER')")
            assert cur.fetchone() == (True,)
    finally:
        conn.close()


def test_the_login_step_refuses_to_run_without_its_passwords(stack: StackConfig) -> None:
    env = owner_env(stack, DEVSTACK_PARENT=str(REPO_ROOT))
    for name in ("POSTGRES_SINK_PASSWORD", "POSTGRES_READONLY_PASSWORD"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "docker" / "init" / "pg_logins.py")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "POSTGRES_SINK_PASSWORD" in result.stderr


@pytest.mark.parametrize(("password_ok", "code"), [(True, 0), (False, 1)])
def test_the_maintenance_check_connects_as_the_owner(
    stack: StackConfig, password_ok: bool, code: int
) -> None:
    env = owner_env(stack)
    if not password_ok:
        env["POSTGRES_PASSWORD"] = "not-the-owner-password"
    result = subprocess.run(
        [sys.executable, "-m", "iot_pipeline.storage.maintenance", "--check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == code, result.stderr
