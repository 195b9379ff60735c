"""After the migrations, in compose's ``timescaledb-migrate`` job (as the owner): the login users
of the least-privilege roles migration 0007 creates, with their docker/.env passwords. The SQL is
the native stack's (``devstack.postgres.login_roles_sql``, mounted read-only); idempotent.
    iot_sink        iot_writer: INSERT/SELECT on the readings (the TimescaleDB sink)
    iot_readonly    iot_reader: SELECT (Grafana's TimescaleDB datasource, psql users)
    iot_monitoring  iot_monitor + iot_reader (postgres-exporter)
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.environ.get("DEVSTACK_PARENT", "/opt/project"))

from devstack.postgres import LOGIN_ROLES, login_roles_sql  # the mounted project source

PASSWORD_VARIABLES = {
    "iot_sink": "POSTGRES_SINK_PASSWORD",
    "iot_readonly": "POSTGRES_READONLY_PASSWORD",
    "iot_monitoring": "POSTGRES_MONITORING_PASSWORD",
}


def passwords(environ: dict[str, str]) -> dict[str, str]:
    missing = [var for var in PASSWORD_VARIABLES.values() if not environ.get(var)]
    if missing or set(PASSWORD_VARIABLES) != set(LOGIN_ROLES):
        raise SystemExit(f"pg-logins: {', '.join(missing)} must be set (docker/.env)")
    return {user: environ[var] for user, var in PASSWORD_VARIABLES.items()}


def main() -> int:
    from iot_pipeline.config import load_settings_or_exit
    from iot_pipeline.storage.engine import create_db_engine

    sql = login_roles_sql(passwords(dict(os.environ)))
    engine = create_db_engine(load_settings_or_exit("pg-logins"))
    try:
        # The DB-API cursor directly: no parameters, so no percent sign is read as one.
        conn = engine.raw_connection()
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
            conn.commit()
        finally:
            conn.close()
    finally:
        engine.dispose()
    print(f"pg-logins: {', '.join(PASSWORD_VARIABLES)} have their passwords and roles")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
