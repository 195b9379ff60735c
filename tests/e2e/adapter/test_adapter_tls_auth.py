"""The adapter against a broker that requires TLS and a password: with the CA file and the
credentials from its settings it connects and publishes every reading; with a wrong password it
is refused, keeps running and says so."""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import json
import secrets
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.adapter.harness import (
    PrivateBroker,
    keys_of,
    read_records,
    temperature_only,
    wait_for,
)

pytestmark = pytest.mark.e2e

# Generated per run: no password is written in the repository.
USER = "adapter"
PASSWORD = secrets.token_urlsafe(16)


def _write_pki(directory: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1 signed by it (PEM files)."""
    now = dt.datetime.now(dt.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("e2e test CA"))
        .issuer_name(name("e2e test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "ca.pem"
    cert_file = directory / "server.pem"
    key_file = directory / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    for path in (ca_file, cert_file, key_file):
        path.chmod(0o644)
    return ca_file, cert_file, key_file


@pytest.fixture
def secure_broker() -> Iterator[tuple[PrivateBroker, Path]]:
    base = Path(tempfile.mkdtemp(prefix="e2e-mqtt-pki-"))
    base.chmod(0o755)  # Mosquitto drops root for its own user, which must read these
    ca_file, cert_file, key_file = _write_pki(base)
    passwords = base / "passwords"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwords), USER, PASSWORD],
        check=True,
        capture_output=True,
    )
    passwords.chmod(0o644)
    broker = PrivateBroker(
        "\n".join(
            [
                f"cafile {ca_file}",
                f"certfile {cert_file}",
                f"keyfile {key_file}",
                "allow_anonymous false",
                f"password_file {passwords}",
                "",
            ]
        )
    )
    try:
        broker.start()
        yield broker, ca_file
    finally:
        broker.close()
        shutil.rmtree(base, ignore_errors=True)


def _tls_publisher(port: int, ca_file: Path) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.tls_set(ca_certs=str(ca_file), tls_version=ssl.PROTOCOL_TLS_CLIENT)
    client.username_pw_set(USER, PASSWORD)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def test_adapter_connects_with_tls_and_a_password(adapter_env, start_adapter, secure_broker):
    broker, ca_file = secure_broker
    env = dataclasses.replace(adapter_env, mqtt_port=broker.port)
    secure = {
        "MQTT_TLS_ENABLED": "true",
        "MQTT_CA_FILE": str(ca_file),
        "MQTT_USERNAME": USER,
        "MQTT_PASSWORD": PASSWORD,
    }

    refused = start_adapter(env, **{**secure, "MQTT_PASSWORD": "wrong"})
    wait_for(lambda: "refused" in refused.text(), 60, "the broker to refuse the password", refused)
    assert refused.alive()
    assert refused.metrics().get("mqtt_adapter_mqtt_connected") == 0.0
    assert PASSWORD not in refused.text()
    assert refused.stop() == 0

    adapter = start_adapter(env, **secure)
    adapter.wait_connected()
    tag = "C0:FF:EE:00:40:01"
    publisher = _tls_publisher(broker.port, ca_file)
    try:
        infos = [
            publisher.publish(env.data_topic, json.dumps(temperature_only(tag, seq)), 1)
            for seq in range(200)
        ]
        for info in infos:
            info.wait_for_publish(30)
    finally:
        publisher.disconnect()
        publisher.loop_stop()
    expected = {(f"{tag.lower()}_temperature", seq) for seq in range(200)}
    records = read_records(
        env.settings, env.topic, 200, timeout=120, done=lambda found: keys_of(found) >= expected
    )
    assert keys_of(records) == expected
    assert adapter.stop() == 0
