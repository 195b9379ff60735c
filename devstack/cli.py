"""``python -m devstack up|down|status|logs [SERVICE]|clean``.

``up`` installs what is missing, starts only what is not running, and returns once every service
passes its real health probe. ``down`` stops only the processes devstack started (pid file
and start time).
``down``, ``logs`` and ``clean`` need nothing beyond the standard library.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

from devstack import monitoring, probes, proc
from devstack.config import StackConfig
from devstack.gateways import add_gateway, remove_gateway
from devstack.kafka_users import rotate_password
from devstack.lifecycle import describe_strangers, down, say, up
from devstack.pipeline import run_pipeline
from devstack.services import all_services, probe_for


# -------------------------------------------------------------------------------------- status
def cmd_status(cfg: StackConfig) -> int:
    services = all_services(cfg)
    kafka = probes.KafkaProbe(cfg)
    width = max(len(s.name) for s in services)
    bad = 0
    for service in services:
        record = proc.running_record(service.pidfile(cfg))
        try:
            detail = probe_for(service.name, cfg, kafka)()
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
    down(cfg)
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
    gateway = sub.add_parser(
        "add-gateway",
        help="give a gateway its own MQTT user and topics; print what to enter in its settings",
    )
    gateway.add_argument("name", help="user name and (ESP32) gateway id")
    gateway.add_argument("--mac", default="", help="an official Ruuvi Gateway's MAC address")
    gateway.add_argument("--rotate", action="store_true", help="give it a new password")
    sub.add_parser("remove-gateway", help="revoke a gateway's MQTT user").add_argument("name")
    sub.add_parser(
        "rotate-kafka-password",
        help="give a service's Kafka principal a new SCRAM password (secrets file and brokers)",
    ).add_argument("principal", help="e.g. iot-sink (devstack/kafka_auth.py PRINCIPALS)")
    args = parser.parse_args(argv)
    cfg = StackConfig.from_env()
    if args.command in ("up", "run"):
        cfg = cfg.with_secrets()
    if args.command == "up":
        return up(cfg)
    if args.command == "down":
        return down(cfg)
    if args.command == "status":
        return cmd_status(cfg)
    if args.command == "run":
        return run_pipeline(cfg)
    if args.command in ("add-gateway", "remove-gateway"):
        broker = {s.name: s for s in all_services(cfg)}["mqtt"]
        if args.command == "remove-gateway":
            return remove_gateway(cfg, broker, args.name)
        return add_gateway(cfg, broker, args.name, args.mac, args.rotate)
    if args.command == "rotate-kafka-password":
        return rotate_password(cfg, args.principal)
    if args.command == "logs":
        return cmd_logs(cfg, args.service or None, args.lines, args.follow)
    return cmd_clean(cfg)
