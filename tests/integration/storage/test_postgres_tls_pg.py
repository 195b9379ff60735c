"""TLS to the real PostgreSQL: the stack serves a certificate from its own CA (devstack.tls);
libpq with sslmode=verify-full and that CA connects over TLS, a wrong host name is refused, and
POSTGRES_SSLMODE / POSTGRES_SSLROOTCERT reach the services' engine."""

from __future__ import annotations

import psycopg2
import pytest
from sqlalchemy import text

from devstack.config import StackConfig
from devstack.tls import tls_dir
from iot_pipeline.config import load_settings
from iot_pipeline.storage.engine import create_db_engine

pytestmark = pytest.mark.integration

SSL_OF_THIS_SESSION = "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


def ca_file(stack: StackConfig) -> str:
    return str(tls_dir(stack.state_dir) / "ca.pem")


def test_verify_full_with_the_stack_ca_connects_over_tls(stack: StackConfig) -> None:
    conn = psycopg2.connect(stack.postgres_dsn, sslmode="verify-full", sslrootcert=ca_file(stack))
    try:
        with conn.cursor() as cur:
            cur.execute(SSL_OF_THIS_SESSION)
            ssl, version = cur.fetchone()
    finally:
        conn.close()
    assert ssl is True
    assert version.startswith("TLSv1.")


def test_verify_full_refuses_a_name_the_certificate_does_not_carry(stack: StackConfig) -> None:
    with pytest.raises(psycopg2.OperationalError, match="does not match host name"):
        psycopg2.connect(
            host="not-the-stack.example",
            hostaddr="127.0.0.1",
            port=stack.postgres_port,
            dbname=stack.postgres_db,
            user=stack.postgres_user,
            password=stack.postgres_password,
            sslmode="verify-full",
            sslrootcert=ca_file(stack),
        )


@pytest.mark.parametrize(("sslmode", "expected"), [("verify-full", True), ("disable", False)])
def test_the_settings_choose_tls_for_the_services_engine(
    stack: StackConfig, sslmode: str, expected: bool
) -> None:
    settings = load_settings(
        postgres_host="127.0.0.1",
        postgres_port=stack.postgres_port,
        postgres_password=stack.postgres_password,
        postgres_sslmode=sslmode,
        postgres_sslrootcert=ca_file(stack),
    )
    engine = create_db_engine(settings)
    try:
        with engine.connect() as conn:
            assert conn.execute(text(SSL_OF_THIS_SESSION)).one().ssl is expected
    finally:
        engine.dispose()
