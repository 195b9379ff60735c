"""One-shot ``mqtt-auth-init`` of Docker Compose: the Mosquitto configuration, ACL and password
file (plain ``user:password`` lines; the broker's container hashes a copy with mosquitto_passwd
into memory at each start), written from docker/.env's secrets into the ``mosquitto-auth`` volume.

Who may do what is the native stack's ACL (``devstack.mqtt_auth``, mounted read-only): each
gateway identity publishes only its own topics, the adapter only reads, the exporter reads $SYS.
Gateways: MQTT_GATEWAYS, entries separated by spaces or commas,
    name=password                      an ESP32 gateway (publishes ruuvitag/data and
                                       ruuvitag/status/<name>)
    name/AA:BB:CC:DD:EE:FF=password    an official Ruuvi Gateway (publishes ruuvi/<MAC>/#)
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

sys.path.insert(0, os.environ.get("DEVSTACK_PARENT", "/opt/project"))

from devstack import mqtt_auth  # the mounted project source

MOSQUITTO_UID = 1883  # the eclipse-mosquitto image's mosquitto user
# Service identities and the docker/.env variable holding each one's password.
SERVICE_PASSWORDS = {
    mqtt_auth.ADAPTER: "MQTT_ADAPTER_PASSWORD",
    mqtt_auth.SIMULATOR: "MQTT_SIMULATOR_PASSWORD",
    mqtt_auth.EXPORTER: "MQTT_EXPORTER_PASSWORD",
}
# Kubernetes' exporter sidecar reads $SYS on a pod-local listener without a user: there (and
# only there, MQTT_EXPORTER_OPTIONAL=true) the exporter's user may be absent.
OPTIONAL_WHEN_ALLOWED = ("MQTT_EXPORTER_PASSWORD",)
# Lines of mqtt/config/mosquitto.conf this file replaces (listeners and authentication).
REPLACED = ("listener", "protocol", "allow_anonymous", "password_file", "acl_file")


def parse_gateways(text: str) -> list[tuple[mqtt_auth.Gateway, str]]:
    """MQTT_GATEWAYS as gateways and their passwords (GatewayError on a malformed entry)."""
    out = []
    for entry in re.split(r"[\s,]+", text.strip()):
        if not entry:
            continue
        ident, sep, password = entry.partition("=")
        if not sep or not password:
            raise mqtt_auth.GatewayError(f"MQTT_GATEWAYS entry {ident!r}: expected name=password")
        name, _, mac = ident.partition("/")
        kind = mqtt_auth.OFFICIAL if mac else mqtt_auth.ESP32
        out.append((mqtt_auth.make_gateway(name, kind, mac), password))
    names = [gateway.name for gateway, _ in out]
    if len(names) != len(set(names)):
        raise mqtt_auth.GatewayError(f"MQTT_GATEWAYS names a gateway twice: {names}")
    return out


def compose_conf(
    project_conf: str, auth_dir: str, cert_dir: str, ports: tuple[int, int] = (1883, 8883)
) -> str:
    """mqtt/config/mosquitto.conf with authentication on every listener: 1883 (plain, inside the
    compose network and on the host's loopback) and 8883 (TLS, for gateways on the LAN)."""
    kept = [
        line
        for line in project_conf.splitlines()
        if (line.split()[:1] or [""])[0] not in REPLACED
        and "connect without credentials" not in line
    ]
    head = [
        "# GENERATED at container start by docker/init/mqtt_auth_files.py from",
        "# mqtt/config/mosquitto.conf: no anonymous clients; users, ACL and TLS added.",
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {auth_dir}/passwd",
        f"acl_file {auth_dir}/acl",
        "",
        f"listener {ports[0]}",
        "protocol mqtt",
        "",
        f"listener {ports[1]}",
        "protocol mqtt",
        f"cafile {cert_dir}/ca.pem",
        f"certfile {cert_dir}/server.pem",
        f"keyfile {cert_dir}/server.key",
        "tls_version tlsv1.2",
        "",
        "# --- The rest: mqtt/config/mosquitto.conf as the native stack runs it.",
    ]
    return "\n".join(head + kept).rstrip() + "\n"


def from_files(environ: dict[str, str]) -> dict[str, str]:
    """``environ`` with each ``NAME_FILE`` read into ``NAME`` (Kubernetes mounts its Secret as
    files); a value given directly wins."""
    out = dict(environ)
    for key, path in environ.items():
        name = key.removesuffix("_FILE")
        if key.endswith("_FILE") and not out.get(name):
            out[name] = Path(path).read_text().strip()
    return out


def render(
    environ: dict[str, str], project_conf: str, auth_dir: str, cert_dir: str
) -> dict[str, str]:
    """The three files (name -> text) from the environment; SystemExit naming a missing secret."""
    optional = OPTIONAL_WHEN_ALLOWED if environ.get("MQTT_EXPORTER_OPTIONAL") == "true" else ()
    missing = [
        var for var in SERVICE_PASSWORDS.values() if not environ.get(var) and var not in optional
    ]
    if missing:
        raise SystemExit(f"mqtt-auth-init: {', '.join(missing)} must be set (docker/.env)")
    gateways = parse_gateways(environ.get("MQTT_GATEWAYS", ""))
    passwords = {user: environ[var] for user, var in SERVICE_PASSWORDS.items() if environ.get(var)}
    passwords.update({gateway.name: password for gateway, password in gateways})
    return {
        "mosquitto.conf": compose_conf(project_conf, auth_dir, cert_dir),
        "acl": mqtt_auth.render_acl([gateway for gateway, _ in gateways]),
        "passwd": mqtt_auth.password_lines(passwords),
    }


def main() -> int:
    out = Path(os.environ.get("MQTT_AUTH_DIR", "/mosquitto-auth"))
    # Kubernetes renders its own mosquitto.conf (deploy/kubernetes/tools/generate.py): it asks
    # for the ACL and the password lines only (MQTT_AUTH_FILES=acl,passwd).
    wanted = os.environ.get("MQTT_AUTH_FILES", "mosquitto.conf,acl,passwd").split(",")
    project_conf = Path(os.environ.get("MOSQUITTO_PROJECT_CONF", "/opt/project/mosquitto.conf"))
    conf_text = project_conf.read_text() if "mosquitto.conf" in wanted else ""
    try:
        files = render(
            from_files(dict(os.environ)), conf_text, "/mosquitto/auth", "/certs/mosquitto"
        )
    except mqtt_auth.GatewayError as exc:
        raise SystemExit(f"mqtt-auth-init: {exc}") from exc
    out.mkdir(parents=True, exist_ok=True)
    for name in wanted:
        path = out / name
        path.write_text(files[name])
        path.chmod(0o600)
        if os.geteuid() == 0:
            os.chown(path, MOSQUITTO_UID, MOSQUITTO_UID)
    print(
        f"mqtt-auth-init: {len(files['passwd'].splitlines())} users; {', '.join(wanted)} in {out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
