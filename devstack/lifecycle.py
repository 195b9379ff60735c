"""Bringing the native stack up and down: ``up`` installs what is missing, starts only what is not
running, and returns once every service passes its real health probe; ``down`` stops only the
processes devstack started (pid file and start time). Used by the CLI and by ``run``.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from devstack import install, kafka_users, monitoring, probes, proc, tls
from devstack.config import REPO_ROOT, StackConfig
from devstack.postgres import Postgres
from devstack.secrets import secrets_file
from devstack.service_base import Service, SetupError
from devstack.services import all_services, probe_for


def say(msg: str) -> None:
    print(f"[devstack] {msg}", flush=True)


@contextmanager
def stack_lock(cfg: StackConfig) -> Iterator[None]:
    """One stack command at a time (several test sessions may call ``up`` together)."""
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    with (cfg.state_dir / ".devstack.lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def describe_strangers(service: Service) -> str | None:
    """Say who holds one of the service's ports if it is not devstack's own process."""
    for port in service.ports:
        if not proc.port_in_use(port):
            continue
        owners = proc.port_owners(port)
        who = "; ".join(f"pid {pid}: {cmd[:160]}" for pid, cmd in owners) or "an unknown process"
        hint = f"'service {service.distro_service} stop' or " if service.distro_service else ""
        return (
            f"port {port} is already in use by {who} -- not a process devstack started. "
            f"Stop it ({hint}'kill <pid>') and run 'make up' again."
        )
    return None


def print_log_tail(cfg: StackConfig, service: Service, lines: int = 40) -> None:
    logfile = service.logfile(cfg)
    print(f"----- last {lines} lines of {logfile} -----", file=sys.stderr)
    print(proc.tail(logfile, lines), file=sys.stderr)
    print("-----", file=sys.stderr, flush=True)


def fail(cfg: StackConfig, service: Service, reason: str) -> int:
    print(f"[devstack] FAILED: {service.name}: {reason}", file=sys.stderr, flush=True)
    print_log_tail(cfg, service)
    return 1


# --------------------------------------------------------------------------------------- hooks
def apply_database_migrations(cfg: StackConfig) -> str:
    """HOOK (database area): apply the project's database migrations once PostgreSQL is healthy.

    Runs ``python -m iot_pipeline.storage.migrate`` (idempotent by contract) with the stack's
    POSTGRES_* settings, as soon as that module exists in the source tree.
    """
    module = REPO_ROOT / "src" / "iot_pipeline" / "storage" / "migrate.py"
    if not module.exists():
        return "no migrations module yet (src/iot_pipeline/storage/migrate.py)"
    env = {
        **cfg.env,
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": str(cfg.postgres_port),
        "POSTGRES_DB": cfg.postgres_db,
        "POSTGRES_USER": cfg.postgres_user,
        "POSTGRES_PASSWORD": cfg.postgres_password,
    }
    result = subprocess.run(
        [sys.executable, "-m", "iot_pipeline.storage.migrate"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SetupError(
            "database migrations failed (python -m iot_pipeline.storage.migrate):\n"
            + (result.stdout + result.stderr).strip()[-3000:]
        )
    return "migrations applied"


def set_up_kafka_security(cfg: StackConfig, broker: Service) -> str:
    """Once every broker is healthy: the services' SCRAM users and ACLs (idempotent)."""
    if not all(proc.port_open(port) for port in cfg.kafka_secure_ports):
        # Brokers started by an older checkout: no secured listener and no authorizer (creating
        # ACLs would fail) until they restart with this configuration.
        return (
            f"WARNING: no SASL_SSL listener on {cfg.kafka_secure_bootstrap}: brokers started "
            "before it existed; 'make down && make up' restarts them with it"
        )
    try:
        return kafka_users.ensure_users_and_acls(cfg)
    except SetupError as exc:
        raise _Failed(broker, str(exc)) from None


def _stop_outdated_brokers(cfg: StackConfig, services: list[Service]) -> None:
    """Brokers started by a checkout from before the secured listener run without it (and
    without the authorizer): stop them, so that this ``up`` starts them with today's
    configuration (their data stays)."""
    for broker in (s for s in services if s.name.startswith("kafka-")):
        i = int(broker.name.split("-")[1]) - 1
        record = proc.running_record(broker.pidfile(cfg))
        if (
            record is not None
            and proc.port_open(cfg.kafka_ports[i])
            and not proc.port_open(cfg.kafka_secure_ports[i])
        ):
            say(f"{broker.name} runs without the SASL_SSL listener (older config): restarting it")
            proc.stop(broker.pidfile(cfg), sig=broker.stop_signal, timeout_s=broker.stop_timeout_s)


# ------------------------------------------------------------------------------------------ up
class _Failed(Exception):
    """A service failed to start or to become healthy; ``up`` reports it and its log."""

    def __init__(self, service: Service, reason: str) -> None:
        super().__init__(reason)
        self.service = service
        self.reason = reason


def _start(cfg: StackConfig, service: Service) -> str | None:
    """Start one service unless it runs already. Returns an error message or None."""
    if proc.running_record(service.pidfile(cfg)) is not None:
        return None
    stranger = describe_strangers(service)
    if stranger:
        return stranger
    try:
        service.prepare(cfg)
        proc.spawn(
            service.argv(cfg),
            pidfile=service.pidfile(cfg),
            logfile=service.logfile(cfg),
            cwd=service.cwd(cfg),
            env=service.env(cfg),
            user=service.run_user(cfg),
        )
    except (SetupError, OSError) as exc:
        return str(exc)
    return None


def _start_missing(cfg: StackConfig, services: list[Service]) -> tuple[set[str], list[Service]]:
    """Start every service that is not running, but those that keep their data in PostgreSQL:
    they start once it is bootstrapped and healthy. Returns the names of the services already
    running, and the services deferred."""
    for d in (cfg.logs_dir, cfg.run_dir):
        d.mkdir(parents=True, exist_ok=True)
    already = {s.name for s in services if proc.running_record(s.pidfile(cfg)) is not None}
    to_start = [s for s in services if s.name not in already]
    deferred = [s for s in to_start if s.after_postgres]
    to_start = [s for s in to_start if not s.after_postgres]
    if to_start:
        say("starting " + ", ".join(s.name for s in to_start))
    with ThreadPoolExecutor(max_workers=len(services)) as pool:
        errors = dict(zip(to_start, pool.map(lambda s: _start(cfg, s), to_start), strict=True))
    for service, error in errors.items():
        if error:
            raise _Failed(service, error)
    return already, deferred


class _HealthWait:
    """Probes the services until every one is healthy (or ``up_timeout_s`` passed); bootstraps
    PostgreSQL once it accepts connections, then starts the services deferred until then."""

    def __init__(self, cfg: StackConfig, services: list[Service], deferred: list[Service]) -> None:
        self.cfg = cfg
        self.pending = {s.name: s for s in services if s not in deferred}
        self.deferred = deferred
        self.details: dict[str, str] = {}
        self.last_error: dict[str, str] = {}
        self.bootstrapped = False

    def run(self) -> dict[str, str]:
        """What each service's probe saw, once all are healthy."""
        deadline = time.monotonic() + self.cfg.up_timeout_s
        while self.pending:
            self._probe_round(probes.KafkaProbe(self.cfg))
            if self.pending and time.monotonic() > deadline:
                name = sorted(self.pending)[0]
                raise _Failed(
                    self.pending[name],
                    f"not healthy after {self.cfg.up_timeout_s:.0f}s: "
                    f"{self.last_error.get(name, '?')}",
                )
            if self.pending:
                time.sleep(1.0)
        return self.details

    def _probe_round(self, kafka: probes.KafkaProbe) -> None:
        for name, service in list(self.pending.items()):
            if proc.running_record(service.pidfile(self.cfg)) is None:
                raise _Failed(service, "process exited during start-up")
            try:
                self._probe(name, service, kafka)
            except (probes.ProbeError, SetupError) as exc:
                self.last_error[name] = str(exc)

    def _probe(self, name: str, service: Service, kafka: probes.KafkaProbe) -> None:
        if isinstance(service, Postgres) and not self.bootstrapped:
            if not proc.port_open(self.cfg.postgres_port):
                raise probes.ProbeError("not accepting connections yet")
            service.bootstrap(self.cfg)
            self.bootstrapped = True
        self.details[name] = probe_for(name, self.cfg, kafka, whole_cluster=True)()
        del self.pending[name]
        if name.startswith("kafka-") and not any(n.startswith("kafka-") for n in self.pending):
            # Principals and ACLs before anything logs in with them (the lag exporter).
            self.details[name] += "; " + set_up_kafka_security(self.cfg, service)
        if isinstance(service, Postgres):
            # The roles and logins exist before anything that logs in with them (the exporter's
            # iot_monitoring, the registry) must pass its own probe: on a fresh stack they would
            # otherwise wait for setup that runs only once every service is healthy.
            self._set_up_database(service)
            if self.deferred:
                self._start_deferred()

    def _set_up_database(self, postgres: Postgres) -> None:
        try:
            self.details["postgres"] += "; " + apply_database_migrations(self.cfg)
            self.details["postgres"] += "; " + postgres.create_logins(self.cfg)
        except SetupError as exc:
            raise _Failed(postgres, str(exc)) from None

    def _start_deferred(self) -> None:
        say("starting " + ", ".join(s.name for s in self.deferred) + " (PostgreSQL ready)")
        for later in self.deferred:
            error = _start(self.cfg, later)
            if error:
                raise _Failed(later, error)
            self.pending[later.name] = later
        self.deferred = []


def _finish_setup(cfg: StackConfig, services: list[Service], details: dict[str, str]) -> None:
    """Once all are healthy: a Prometheus/Alertmanager that was already running re-reads this
    checkout's config (the database was set up as soon as PostgreSQL answered)."""
    prometheus = next(s for s in services if s.name == "prometheus")
    try:
        details["prometheus"] += "; " + monitoring.reload_config(cfg)
    except SetupError as exc:
        raise _Failed(prometheus, str(exc)) from None


def _print_ready(
    cfg: StackConfig, services: list[Service], already: set[str], details: dict[str, str]
) -> None:
    width = max(len(s.name) for s in services)
    for service in services:
        started = "" if service.name in already else " (started)"
        print(f"  {service.name:<{width}}  {service.endpoint:<52} {details[service.name]}{started}")
    print()
    print(f"  secrets (generated, mode 0600): {secrets_file(cfg.state_dir)}")
    print(f"  KAFKA_BOOTSTRAP_SERVERS={cfg.kafka_bootstrap}  (loopback PLAINTEXT, super user)")
    print(
        f"  KAFKA_BOOTSTRAP_SERVERS={cfg.kafka_secure_bootstrap} KAFKA_SECURITY_PROTOCOL=SASL_SSL "
        f"KAFKA_SSL_CA_LOCATION={tls.tls_dir(cfg.state_dir) / 'ca.pem'}  (services, own principal)"
    )
    print(f"  SCHEMA_REGISTRY_URL={cfg.registry_url}")
    print(f"  MQTT_BROKER_HOST=127.0.0.1 MQTT_BROKER_PORT={cfg.mqtt_port}")
    print(
        f"  POSTGRES_HOST=127.0.0.1 POSTGRES_PORT={cfg.postgres_port} "
        f"POSTGRES_DB={cfg.postgres_db} POSTGRES_USER={cfg.postgres_user}"
    )


def up(cfg: StackConfig) -> int:
    """Install, start what is not running, wait until every service is healthy; 0 when it is."""
    t0 = time.monotonic()
    cfg = cfg.with_secrets()
    with stack_lock(cfg):
        try:
            install.ensure_installed(cfg)
        except install.InstallError as exc:
            print(f"[devstack] FAILED: install: {exc}", file=sys.stderr)
            return 1
        services = all_services(cfg)
        try:
            # The CA and the servers' certificates, once, before the servers that use them start
            # side by side (a state directory from before the Kafka certificate gets it now).
            tls.ensure_kafka_keystore(cfg.state_dir)
        except SetupError as exc:
            print(f"[devstack] FAILED: tls: {exc}", file=sys.stderr)
            return 1
        _stop_outdated_brokers(cfg, services)
        try:
            already, deferred = _start_missing(cfg, services)
            details = _HealthWait(cfg, services, deferred).run()
            _finish_setup(cfg, services, details)
        except _Failed as failed:
            return fail(cfg, failed.service, failed.reason)
    say(f"stack healthy in {time.monotonic() - t0:.1f}s (state: {cfg.state_dir})")
    _print_ready(cfg, services, already, details)
    return 0


# ---------------------------------------------------------------------------------------- down
def down(cfg: StackConfig) -> int:
    services = all_services(cfg)
    if not cfg.state_dir.exists():
        say("nothing to stop")
        return 0
    with stack_lock(cfg):
        # Clients of PostgreSQL (registry) first, then the others but the brokers, then the
        # brokers together.
        first = [s for s in services if s.after_postgres]
        order = [s for s in services if not s.name.startswith("kafka-") and not s.after_postgres]
        brokers = [s for s in services if s.name.startswith("kafka-")]

        def stop(service: Service) -> str:
            return proc.stop(
                service.pidfile(cfg), sig=service.stop_signal, timeout_s=service.stop_timeout_s
            )

        with ThreadPoolExecutor(max_workers=len(services)) as pool:
            results = dict(zip(first, pool.map(stop, first), strict=True))
            results.update(zip(order, pool.map(stop, order), strict=True))
            results.update(zip(brokers, pool.map(stop, brokers), strict=True))
    for service in services:
        say(f"{service.name}: {results[service]}")
    return 0
