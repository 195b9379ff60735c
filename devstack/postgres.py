"""PostgreSQL with TimescaleDB: the cluster, its bootstrap (database and role), psql (standard
library only)."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from devstack import proc, tls
from devstack.config import StackConfig
from devstack.service_base import Service, SetupError


# ------------------------------------------------------------------------ PostgreSQL + TimescaleDB
def pg_user() -> str:
    """PostgreSQL refuses to run as root: as root, run it as the 'postgres' system user."""
    return "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name


def database_and_role_sql(database: str, user: str, password: str) -> str:
    """SQL (for psql) that makes a login role with this password and a database it owns, or
    brings an existing role's password up to date; running it again changes nothing."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", database) or not re.fullmatch(
        r"[a-z_][a-z0-9_]*", user
    ):
        raise SetupError(
            f"postgres: database and role names must be plain lower-case identifiers "
            f"(got {database!r}, {user!r})"
        )
    quoted = password.replace("'", "''")
    return f"""
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{user}') THEN
    CREATE ROLE {user} LOGIN PASSWORD '{quoted}';
  ELSE
    ALTER ROLE {user} WITH LOGIN PASSWORD '{quoted}';
  END IF;
END $$;
SELECT 'CREATE DATABASE {database} OWNER {user}'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{database}')\\gexec
"""


# Login users of the least-privilege group roles that migration 0007 creates.
# (The exporter's own queries count devices in sensor_readings: monitoring reads them too.)
LOGIN_ROLES = {
    "iot_sink": ("iot_writer",),
    "iot_readonly": ("iot_reader",),
    "iot_monitoring": ("iot_monitor", "iot_reader"),
}


def login_roles_sql(passwords: dict[str, str]) -> str:
    """SQL that makes (or updates) each login user with its password and its one group role;
    ``passwords`` maps a key of LOGIN_ROLES to its password. Idempotent."""
    out = []
    for user, groups in LOGIN_ROLES.items():
        quoted = passwords[user].replace("'", "''")
        out.append(
            f"""DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{user}') THEN
    CREATE ROLE {user} LOGIN PASSWORD '{quoted}';
  ELSE
    ALTER ROLE {user} WITH LOGIN NOCREATEROLE NOCREATEDB PASSWORD '{quoted}';
  END IF;
END $$;
GRANT {", ".join(groups)} TO {user};"""
        )
    return "\n".join(out) + "\n"


@dataclass(eq=False)
class Postgres(Service):
    def data_dir(self, cfg: StackConfig) -> Path:
        return cfg.state_dir / "postgresql" / "data"

    def run_user(self, cfg: StackConfig) -> str | None:
        return "postgres" if os.geteuid() == 0 else None

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def prepare(self, cfg: StackConfig) -> None:
        base = cfg.state_dir / "postgresql"
        data = self.data_dir(cfg)
        sock = cfg.pg_socket_dir
        for d in (cfg.state_dir, base):
            d.mkdir(parents=True, exist_ok=True)
        # The postgres user must be able to reach its directories (not read anything else).
        cfg.state_dir.chmod(0o755)
        base.chmod(0o755)
        sock.mkdir(exist_ok=True)
        sock.chmod(0o700)
        self._chown(sock)
        self._install_tls(cfg)
        if (data / "PG_VERSION").exists():
            self._remove_stale_lock(data)
            return
        if data.exists():
            shutil.rmtree(data)  # a half-made cluster from an interrupted first start
        data.mkdir(mode=0o700)
        self._chown(data)
        result = subprocess.run(
            [
                str(cfg.pg_bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                # Local (socket) access is for devstack's own setup; the socket dir is mode 0700.
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ],
            capture_output=True,
            text=True,
            user=self.run_user(cfg),
            group=self.run_user(cfg),
            extra_groups=[] if self.run_user(cfg) else None,
            cwd="/",
        )
        if result.returncode != 0:
            raise SetupError(f"postgres: initdb failed:\n{result.stdout}{result.stderr}")

    def tls_files(self, cfg: StackConfig) -> tuple[Path, Path]:
        """The server certificate and key PostgreSQL reads (its own copies: the key must belong
        to the user PostgreSQL runs as, mode 0600)."""
        directory = cfg.state_dir / "postgresql" / "tls"
        return directory / "server.pem", directory / "server.key"

    def _install_tls(self, cfg: StackConfig) -> None:
        """A certificate from the stack's CA (made on the first ``up``, also for a state directory
        from before TLS), copied where PostgreSQL may read it."""
        cert, key = tls.ensure_server_cert(cfg.state_dir, "postgresql", "iot-pipeline postgresql")
        own_cert, own_key = self.tls_files(cfg)
        own_cert.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._chown(own_cert.parent)
        for source, target in ((cert, own_cert), (key, own_key)):
            shutil.copyfile(source, target)
            target.chmod(0o600)
            self._chown(target)

    @staticmethod
    def _remove_stale_lock(data: Path) -> None:
        """After a hard stop (machine or session ended) postmaster.pid stays behind; PostgreSQL
        refuses to start if its pid now belongs to some other live process. devstack only calls
        this when its own pid file says PostgreSQL is not running."""
        lock = data / "postmaster.pid"
        try:
            pid = int(lock.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        if "postgres" not in proc.process_cmdline(pid) or proc.process_start_time(pid) is None:
            lock.unlink(missing_ok=True)

    def argv(self, cfg: StackConfig) -> list[str]:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(cfg.postgres_port),
            "unix_socket_directories": str(cfg.pg_socket_dir),
            "shared_preload_libraries": "timescaledb",
            "timescaledb.telemetry_level": "off",
            "max_connections": "200",
            "shared_buffers": "256MB",
            "password_encryption": "scram-sha-256",
            # TLS for every TCP client that asks (libpq's default sslmode=prefer does); clients
            # verify it with the stack's CA (POSTGRES_SSLMODE=verify-full, POSTGRES_SSLROOTCERT).
            "ssl": "on",
            "ssl_cert_file": str(self.tls_files(cfg)[0]),
            "ssl_key_file": str(self.tls_files(cfg)[1]),
            "log_min_messages": "warning",
            "log_line_prefix": "%m [%p] %q%u@%d ",
        }
        argv = [str(cfg.pg_bindir / "postgres"), "-D", str(self.data_dir(cfg))]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        return argv

    def cwd(self, cfg: StackConfig) -> Path:
        return Path("/")

    def psql(self, cfg: StackConfig, sql: str, database: str = "postgres") -> str:
        """Run SQL as the superuser over the private socket (standard library only)."""
        result = subprocess.run(
            [
                str(cfg.pg_bindir / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(cfg.pg_socket_dir),
                "-p",
                str(cfg.postgres_port),
                "-U",
                "postgres",
                "-d",
                database,
                "-At",
                "-f",
                "-",
            ],
            input=sql,
            capture_output=True,
            text=True,
            user=self.run_user(cfg),
            group=self.run_user(cfg),
            extra_groups=[] if self.run_user(cfg) else None,
            cwd="/",
        )
        if result.returncode != 0:
            raise SetupError(f"postgres: SQL failed: {result.stderr.strip()}")
        return result.stdout

    def create_logins(self, cfg: StackConfig) -> str:
        """After the migrations: the login users of the least-privilege roles."""
        passwords = {user: cfg.secrets[f"postgres_{user}_password"] for user in LOGIN_ROLES}
        self.psql(cfg, login_roles_sql(passwords), database=cfg.postgres_db)
        return "roles " + ", ".join(LOGIN_ROLES)

    def bootstrap(self, cfg: StackConfig) -> None:
        """Create the application's role and database with the timescaledb extension, and the
        registry's own role and database (idempotent; passwords follow the settings)."""
        self.psql(
            cfg, database_and_role_sql(cfg.postgres_db, cfg.postgres_user, cfg.postgres_password)
        )
        # The owner runs the migrations, and migration 0007 creates the least-privilege roles.
        self.psql(cfg, f"ALTER ROLE {cfg.postgres_user} CREATEROLE;\n")
        self.psql(cfg, "CREATE EXTENSION IF NOT EXISTS timescaledb;\n", database=cfg.postgres_db)
        self.psql(
            cfg,
            database_and_role_sql(cfg.registry_db, cfg.registry_db_user, cfg.registry_db_password),
        )
