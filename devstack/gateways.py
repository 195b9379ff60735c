"""``python -m devstack add-gateway NAME [--mac MAC] [--rotate]``: give a gateway its own MQTT
identity (a random password, ACL entries for its own topics only), make a running broker load it,
and print exactly what to enter in the firmware's menuconfig or the official gateway's web UI."""

from __future__ import annotations

import json
import socket
import sys

from devstack import mqtt_auth, secrets
from devstack.config import StackConfig
from devstack.mosquitto import gateways_file, load_gateways, reload_broker, write_auth_files
from devstack.service_base import Service


def add_gateway(cfg: StackConfig, broker: Service, name: str, mac: str, rotate: bool) -> int:
    kind = mqtt_auth.OFFICIAL if mac else mqtt_auth.ESP32
    try:
        gateway = mqtt_auth.make_gateway(name, kind, mac)
    except mqtt_auth.GatewayError as exc:
        print(f"add-gateway: {exc}", file=sys.stderr)
        return 2
    gateways = {g.name: g for g in load_gateways(cfg)}
    known = gateways.get(name)
    if known is not None and known != gateway:
        print(f"add-gateway: {name} already exists as {known}", file=sys.stderr)
        return 2
    values = secrets.load_or_create(cfg.state_dir)
    key = f"mqtt_{name}_password"
    if rotate or key not in values:
        values[key] = secrets.new_password()
        path = secrets.secrets_file(cfg.state_dir)
        secrets.write_private(path, json.dumps(values, indent=2, sort_keys=True) + "\n")
    gateways[name] = gateway
    secrets.write_private(gateways_file(cfg), mqtt_auth.gateways_to_json(list(gateways.values())))
    cfg = cfg.with_secrets()
    auth = write_auth_files(cfg)
    loaded = reload_broker(cfg, broker)
    print(
        f"{'rotated' if rotate and known else 'added'} {gateway.name} ({gateway.kind}); "
        + ("the running broker reloaded its users." if loaded else "start the stack: make up")
    )
    print()
    host = socket.gethostname()
    print(mqtt_auth.firmware_instructions(gateway, values[key], host, auth.tls_port, auth.ca_file))
    print()
    print(
        f"The native broker listens on 127.0.0.1 only: a gateway on the LAN reaches it through\n"
        f"Docker Compose (MQTT_BIND_ADDRESS) or a forwarded port. Host name in the certificate:\n"
        f"{', '.join(n.split(':', 1)[1] for n in tls_names())}."
    )
    return 0


def remove_gateway(cfg: StackConfig, broker: Service, name: str) -> int:
    """Revoke a gateway (a lost or stolen one): its user, password and ACL entries go, and a
    running broker reloads at once, so it can neither connect nor publish again."""
    gateways = {g.name: g for g in load_gateways(cfg)}
    if gateways.pop(name, None) is None:
        print(f"remove-gateway: no gateway named {name}", file=sys.stderr)
        return 2
    secrets.write_private(gateways_file(cfg), mqtt_auth.gateways_to_json(list(gateways.values())))
    values = secrets.load_or_create(cfg.state_dir)
    values.pop(f"mqtt_{name}_password", None)
    path = secrets.secrets_file(cfg.state_dir)
    secrets.write_private(path, json.dumps(values, indent=2, sort_keys=True) + "\n")
    write_auth_files(cfg.with_secrets())
    loaded = reload_broker(cfg, broker)
    print(f"removed {name}" + ("; the running broker reloaded its users." if loaded else "."))
    return 0


def tls_names() -> list[str]:
    from devstack.tls import server_names

    return server_names()
