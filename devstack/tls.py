"""The native stack's local certificate authority, Mosquitto's server certificate and the Kafka
brokers' one, generated with ``openssl`` into ``<state>/secrets/tls`` on the first ``make up``
(never in the repository; a state directory made before the Kafka certificate existed gets it on
its next ``up``).

Gateways and services trust ``ca.pem``; the CA's key stays in the state directory (mode 0600).
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from devstack.service_base import SetupError

CA_DAYS = 3650
SERVER_DAYS = 825


def tls_dir(state_dir: Path) -> Path:
    return state_dir / "secrets" / "tls"


def server_names() -> list[str]:
    """Names in the server certificate: loopback, and this machine's name for LAN gateways."""
    names = ["IP:127.0.0.1", "DNS:localhost"]
    host = socket.gethostname()
    if host and host != "localhost":
        names.append(f"DNS:{host}")
    return names


def openssl_commands(directory: Path) -> list[list[str]]:
    """The openssl invocations that make ca.key/ca.pem and server.key/server.pem (EC P-256)."""
    ca_key, ca, key, csr = (str(directory / n) for n in ("ca.key", "ca.pem", "server.key", "csr"))
    ext, cert = str(directory / "server.ext"), str(directory / "server.pem")
    ec_key = ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out"]
    return [
        [*ec_key, ca_key],
        ["openssl", "req", "-x509", "-new", "-key", ca_key, "-sha256", "-days", str(CA_DAYS),
         "-subj", "/CN=iot-pipeline local CA", "-out", ca],
        [*ec_key, key],
        ["openssl", "req", "-new", "-key", key, "-subj", "/CN=iot-pipeline broker", "-out", csr],
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-days", str(SERVER_DAYS), "-sha256", "-extfile", ext, "-out", cert],
    ]  # fmt: skip


def server_extensions(subject_alt_names: list[str]) -> str:
    return (
        "basicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        f"subjectAltName={','.join(subject_alt_names)}\n"
    )


def run_openssl(commands: list[list[str]]) -> None:
    """Run each openssl invocation in turn; SetupError with openssl's message on the first that
    fails."""
    for argv in commands:
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 0:
            raise SetupError(f"tls: {' '.join(argv[:2])} failed: {result.stderr.strip()}")


def ensure_ca(state_dir: Path) -> Path:
    """The TLS directory, with a CA and a server certificate (made now if missing)."""
    directory = tls_dir(state_dir)
    if (directory / "server.pem").exists() and (directory / "ca.pem").exists():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    names = server_names()
    (directory / "server.ext").write_text(server_extensions(names))
    run_openssl(openssl_commands(directory))
    for key in ("ca.key", "server.key"):
        (directory / key).chmod(0o600)
    return directory


KAFKA_KEYSTORE = "kafka-keystore.pem"


def kafka_openssl_commands(directory: Path) -> list[list[str]]:
    """The openssl invocations that make the brokers' key and certificate (RSA 2048, signed by
    the stack's CA). Kafka reads a PEM keystore only with an unencrypted PKCS#8 key: ``pkcs8
    -topk8 -nocrypt`` writes it so."""
    ca_key, ca = str(directory / "ca.key"), str(directory / "ca.pem")
    raw, key, csr = (str(directory / n) for n in ("kafka.rsa", "kafka.key", "kafka.csr"))
    ext, cert = str(directory / "kafka.ext"), str(directory / "kafka.pem")
    return [
        ["openssl", "genrsa", "-out", raw, "2048"],
        ["openssl", "pkcs8", "-topk8", "-nocrypt", "-in", raw, "-out", key],
        ["openssl", "req", "-new", "-key", key, "-subj", "/CN=iot-pipeline kafka", "-out", csr],
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-days", str(SERVER_DAYS), "-sha256", "-extfile", ext, "-out", cert],
    ]  # fmt: skip


def signed_cert_commands(directory: Path, stem: str, common_name: str) -> list[list[str]]:
    """The openssl invocations that make ``<stem>.key`` and ``<stem>.pem`` signed by the CA in
    ``directory`` (its names in ``<stem>.ext``)."""
    key, csr, ext, cert = (str(directory / f"{stem}.{n}") for n in ("key", "csr", "ext", "pem"))
    ca, ca_key = str(directory / "ca.pem"), str(directory / "ca.key")
    return [
        ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key],
        ["openssl", "req", "-new", "-key", key, "-subj", f"/CN={common_name}", "-out", csr],
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-days", str(SERVER_DAYS), "-sha256", "-extfile", ext, "-out", cert],
    ]  # fmt: skip


def ensure_kafka_keystore(state_dir: Path) -> Path:
    """The brokers' PEM keystore (their PKCS#8 key, then their certificate and the CA's), made
    now with the CA if missing. Kafka reads it with ``ssl.keystore.type=PEM``."""
    directory = ensure_ca(state_dir)
    keystore = directory / KAFKA_KEYSTORE
    if keystore.exists():
        return keystore
    (directory / "kafka.ext").write_text(server_extensions(["IP:127.0.0.1", "DNS:localhost"]))
    run_openssl(kafka_openssl_commands(directory))
    (directory / "kafka.rsa").unlink()
    parts = [(directory / n).read_text() for n in ("kafka.key", "kafka.pem", "ca.pem")]
    tmp = keystore.with_suffix(".tmp")
    tmp.touch(mode=0o600)
    tmp.write_text("".join(parts))
    tmp.replace(keystore)
    (directory / "kafka.key").chmod(0o600)
    return keystore


def ensure_server_cert(
    state_dir: Path, stem: str, common_name: str, names: list[str] | None = None
) -> tuple[Path, Path]:
    """``<stem>.pem`` and ``<stem>.key`` in the TLS directory: a certificate for another server
    (e.g. PostgreSQL) signed by the stack's CA, for ``names`` (default: the broker's, loopback
    and this machine's name); made now if missing, kept otherwise."""
    directory = ensure_ca(state_dir)
    key, cert = directory / f"{stem}.key", directory / f"{stem}.pem"
    if key.exists() and cert.exists():
        return cert, key
    (directory / f"{stem}.ext").write_text(server_extensions(names or server_names()))
    try:
        run_openssl(signed_cert_commands(directory, stem, common_name))
    except SetupError:
        key.unlink(missing_ok=True)
        raise
    key.chmod(0o600)
    return cert, key
