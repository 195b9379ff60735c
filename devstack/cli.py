"""``python -m devstack up|down|status|logs [SERVICE]|clean``.

``up`` installs what is missing, starts only what is not running, and returns once every service
passes its real health probe. ``down`` stops only the processes devstack started (pid file
and start time).
``down``, ``logs`` and ``clean`` need nothing beyond the standard library.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from devstack import monitoring, proc
from devstack.config import REPO_ROOT, StackConfig
from devstack.services import Postgres, Service, SetupError, all_services


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


# ------------------------------------------------------------------------------------------ up
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


def cmd_up(cfg: StackConfig) -> int:
    from devstack import install, probes

    t0 = time.monotonic()
    with stack_lock(cfg):
        try:
            install.ensure_installed(cfg)
        except install.InstallError as exc:
            print(f"[devstack] FAILED: install: {exc}", file=sys.stderr)
            return 1
        for d in (cfg.logs_dir, cfg.run_dir):
            d.mkdir(parents=True, exist_ok=True)
        services = all_services(cfg)
        already = {s.name for s in services if proc.running_record(s.pidfile(cfg)) is not None}
        to_start = [s for s in services if s.name not in already]
        # Services that keep their data in PostgreSQL start once it is bootstrapped and healthy.
        deferred = [s for s in to_start if s.after_postgres]
        to_start = [s for s in to_start if not s.after_postgres]
        if to_start:
            say("starting " + ", ".join(s.name for s in to_start))
        with ThreadPoolExecutor(max_workers=len(services)) as pool:
            errors = dict(zip(to_start, pool.map(lambda s: _start(cfg, s), to_start), strict=True))
        for service, error in errors.items():
            if error:
                return fail(cfg, service, error)

        pending = {s.name: s for s in services if s not in deferred}
        details: dict[str, str] = {}
        last_error: dict[str, str] = {}
        bootstrapped = False
        deadline = time.monotonic() + cfg.up_timeout_s
        while pending:
            kafka = probes.KafkaProbe(cfg)
            for name, service in list(pending.items()):
                if proc.running_record(service.pidfile(cfg)) is None:
                    return fail(cfg, service, "process exited during start-up")
                try:
                    if isinstance(service, Postgres) and not bootstrapped:
                        if not proc.port_open(cfg.postgres_port):
                            raise probes.ProbeError("not accepting connections yet")
                        service.bootstrap(cfg)
                        bootstrapped = True
                    details[name] = probes.probe_for(name, cfg, kafka, whole_cluster=True)()
                    del pending[name]
                    if isinstance(service, Postgres) and deferred:
                        say(
                            "starting "
                            + ", ".join(s.name for s in deferred)
                            + " (PostgreSQL ready)"
                        )
                        for later in deferred:
                            error = _start(cfg, later)
                            if error:
                                return fail(cfg, later, error)
                            pending[later.name] = later
                        deferred = []
                except (probes.ProbeError, SetupError) as exc:
                    last_error[name] = str(exc)
            if pending and time.monotonic() > deadline:
                name = sorted(pending)[0]
                return fail(
                    cfg,
                    pending[name],
                    f"not healthy after {cfg.up_timeout_s:.0f}s: {last_error.get(name, '?')}",
                )
            if pending:
                time.sleep(1.0)

        postgres = next(s for s in services if isinstance(s, Postgres))
        try:
            details["postgres"] += "; " + apply_database_migrations(cfg)
        except SetupError as exc:
            return fail(cfg, postgres, str(exc))
        # A Prometheus/Alertmanager that was already running re-reads this checkout's config.
        prometheus = next(s for s in services if s.name == "prometheus")
        try:
            details["prometheus"] += "; " + monitoring.reload_config(cfg)
        except SetupError as exc:
            return fail(cfg, prometheus, str(exc))

    say(f"stack healthy in {time.monotonic() - t0:.1f}s (state: {cfg.state_dir})")
    width = max(len(s.name) for s in services)
    for service in services:
        started = "" if service.name in already else " (started)"
        print(f"  {service.name:<{width}}  {service.endpoint:<52} {details[service.name]}{started}")
    print()
    print(f"  KAFKA_BOOTSTRAP_SERVERS={cfg.kafka_bootstrap}")
    print(f"  SCHEMA_REGISTRY_URL={cfg.registry_url}")
    print(f"  MQTT_BROKER_HOST=127.0.0.1 MQTT_BROKER_PORT={cfg.mqtt_port}")
    print(
        f"  POSTGRES_HOST=127.0.0.1 POSTGRES_PORT={cfg.postgres_port} "
        f"POSTGRES_DB={cfg.postgres_db} POSTGRES_USER={cfg.postgres_user}"
    )
    return 0


# -------------------------------------------------------------------------------------- status
def cmd_status(cfg: StackConfig) -> int:
    from devstack import probes

    services = all_services(cfg)
    kafka = probes.KafkaProbe(cfg)
    width = max(len(s.name) for s in services)
    bad = 0
    for service in services:
        record = proc.running_record(service.pidfile(cfg))
        try:
            detail = probes.probe_for(service.name, cfg, kafka)()
            state = "healthy"
        except (probes.ProbeError, OSError) as exc:
            detail, state = str(exc), "UNHEALTHY"
        if record is not None:
            owner = f"pid {record.pid}"
        else:
            stranger = describe_strangers(service)
            owner = "not running" if stranger is None else "NOT STARTED BY DEVSTACK: " + stranger
            state = "UNHEALTHY"
        if state != "healthy":
            bad += 1
        print(f"{service.name:<{width}}  {state:<9}  {service.endpoint}  [{owner}]  {detail}")
    # Scrape target health is information, not the stack's health: the pipeline's own services
    # are down until `make run`.
    print("\nPrometheus scrape targets (job, address, health, last error):")
    print("\n".join(monitoring.target_health_lines(cfg)))
    return 1 if bad else 0


# ---------------------------------------------------------------------------------------- down
def cmd_down(cfg: StackConfig) -> int:
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


# ---------------------------------------------------------------------------------------- logs
def cmd_logs(cfg: StackConfig, service_name: str | None, lines: int, follow: bool) -> int:
    services = {s.name: s for s in all_services(cfg)}
    if service_name and service_name not in services:
        print(f"unknown service {service_name!r}; one of: {', '.join(services)}", file=sys.stderr)
        return 2
    chosen = [services[service_name]] if service_name else list(services.values())
    if follow:
        os.execvp("tail", ["tail", "-n", str(lines), "-F", *(str(s.logfile(cfg)) for s in chosen)])
    for service in chosen:
        print(f"===== {service.name}: {service.logfile(cfg)}")
        print(proc.tail(service.logfile(cfg), lines))
    return 0


# --------------------------------------------------------------------------------------- clean
def cmd_clean(cfg: StackConfig) -> int:
    cmd_down(cfg)
    if cfg.state_dir.exists():
        shutil.rmtree(cfg.state_dir)
        say(f"removed {cfg.state_dir} (downloads stay cached in {cfg.cache_dir})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "up", help="install what is missing, start what is not running, wait until healthy"
    )
    sub.add_parser("down", help="stop every process devstack started (data is kept)")
    sub.add_parser("status", help="probe every service; exit 1 if any is unhealthy")
    logs = sub.add_parser("logs", help="show service logs")
    logs.add_argument("service", nargs="?", default=None)
    logs.add_argument("-n", "--lines", type=int, default=50)
    logs.add_argument("-f", "--follow", action="store_true")
    sub.add_parser("clean", help="down, then delete all stack data (downloads stay cached)")
    sub.add_parser("run", help="up, then every service with a live summary until Ctrl-C")
    args = parser.parse_args(argv)
    cfg = StackConfig.from_env()
    if args.command == "up":
        return cmd_up(cfg)
    if args.command == "down":
        return cmd_down(cfg)
    if args.command == "status":
        return cmd_status(cfg)
    if args.command == "run":
        from devstack.pipeline import run_pipeline

        return run_pipeline(cfg)
    if args.command == "logs":
        return cmd_logs(cfg, args.service or None, args.lines, args.follow)
    return cmd_clean(cfg)
