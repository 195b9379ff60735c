"""One-shot ``cert-init`` of Docker Compose: a local CA and a certificate for each TLS server
(Mosquitto 8883, the Kafka brokers' SASL_SSL listeners, TimescaleDB), made on the first start into
the ``certs`` volume and kept afterwards. Standard library + ``openssl`` (the Python images have
it); the CA and certificate logic is the native stack's own (``devstack.tls``), mounted read-only.

Layout of the volume (each server reads only its own directory; clients read ``public``):
    ca/                      the CA (key: root only) -- devstack.tls layout
    public/ca.pem            the CA certificate every client trusts
    mosquitto/server.pem|key        owned by the broker's uid
    kafka-broker-N/keystore.pem     PKCS#8 key + certificate (Kafka's PEM keystore)
    timescaledb/server.pem|key      owned by PostgreSQL's uid
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, os.environ.get("DEVSTACK_PARENT", "/opt/project"))

from devstack import tls  # the mounted project source


@dataclass(frozen=True)
class ServerCert:
    name: str  # the directory in the volume and the certificate's common name
    uid: int  # who runs the server in its image (reads the key)
    names: tuple[str, ...]  # subjectAltName entries
    kafka_keystore: bool = False


def servers(advertised_host: str, extra_names: list[str]) -> list[ServerCert]:
    """Every TLS server of the compose file. ``advertised_host``: the name Kafka clients on the
    host use; ``extra_names``: e.g. ``DNS:myhost.lan,IP:192.168.1.10`` for LAN gateways."""
    local = ("DNS:localhost", "IP:127.0.0.1")
    brokers = [
        ServerCert(
            f"kafka-broker-{n}",
            1000,  # appuser of confluentinc/cp-kafka
            tuple(dict.fromkeys((f"DNS:kafka-broker-{n}", f"DNS:{advertised_host}", *local))),
            kafka_keystore=True,
        )
        for n in (1, 2, 3)
    ]
    return [
        ServerCert("mosquitto", 1883, ("DNS:mosquitto", *local, *extra_names)),
        *brokers,
        ServerCert("timescaledb", 70, ("DNS:timescaledb", *local)),  # postgres (Alpine image)
    ]


def kubernetes_servers(namespace: str) -> list[ServerCert]:
    """Kubernetes: one keystore every broker pod shares (its names cover each pod's DNS name)."""
    names = (
        f"DNS:*.kafka-headless.{namespace}.svc.cluster.local",  # the advertised listeners
        # The bootstrap names (a wildcard needs two labels after it); up to 6 brokers.
        *(f"DNS:kafka-{n}.kafka-headless" for n in range(6)),
        "DNS:kafka",
        "DNS:localhost",
        "IP:127.0.0.1",
    )
    return [ServerCert("kafka", 1000, names, kafka_keystore=True)]


def run(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"cert-init: {' '.join(argv[:3])} failed: {result.stderr.strip()}")


def install(root: Path, server: ServerCert, chown: bool) -> None:
    """The server's own directory with its certificate and key (mode 0600, its uid)."""
    cert, key = tls.ensure_server_cert(root / "ca", server.name, server.name, list(server.names))
    target = root / server.name
    target.mkdir(mode=0o700, exist_ok=True)
    files: dict[str, str] = {
        "server.pem": cert.read_text(),
        "ca.pem": (root / "public" / "ca.pem").read_text(),
    }
    if server.kafka_keystore:
        pkcs8 = subprocess.run(
            ["openssl", "pkcs8", "-topk8", "-nocrypt", "-in", str(key)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        files["keystore.pem"] = pkcs8 + cert.read_text()
    else:
        files["server.key"] = key.read_text()
    for name, text in files.items():
        path = target / name
        path.write_text(text)
        path.chmod(0o600)
        if chown:
            os.chown(path, server.uid, server.uid)
    if chown:
        os.chown(target, server.uid, server.uid)


def main() -> int:
    root = Path(os.environ.get("CERTS_DIR", "/certs"))
    extra = [n.strip() for n in os.environ.get("TLS_EXTRA_NAMES", "").split(",") if n.strip()]
    advertised = os.environ.get("KAFKA_ADVERTISED_HOST", "localhost")
    (root / "public").mkdir(parents=True, exist_ok=True)
    (root / "public").chmod(0o755)
    root.chmod(0o755)
    ca_dir = tls.ensure_ca(root / "ca")
    shutil.copyfile(ca_dir / "ca.pem", root / "public" / "ca.pem")
    (root / "public" / "ca.pem").chmod(0o644)
    namespace = os.environ.get("KUBERNETES_NAMESPACE", "")
    # On Kubernetes (deploy/kubernetes/tools/make-tls-secret.sh) the Secret carries the files.
    chown = os.geteuid() == 0 and not namespace
    chosen = kubernetes_servers(namespace) if namespace else servers(advertised, extra)
    for server in chosen:
        install(root, server, chown)
    print(f"cert-init: CA and {len(chosen)} server certificates in {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
