import subprocess

from devstack import tls
from devstack.config import StackConfig
from devstack.postgres import Postgres
from devstack.services import all_services


def test_a_server_certificate_is_signed_by_the_stack_ca_for_its_names(tmp_path):
    cert, key = tls.ensure_server_cert(tmp_path, "postgresql", "pg", ["IP:127.0.0.1", "DNS:db"])
    ca = tls.tls_dir(tmp_path) / "ca.pem"
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(ca), str(cert)], capture_output=True, text=True
    )
    assert verified.returncode == 0, verified.stderr
    text = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-text"], capture_output=True, text=True
    ).stdout
    assert "IP Address:127.0.0.1" in text and "DNS:db" in text
    assert "TLS Web Server Authentication" in text
    assert key.stat().st_mode & 0o077 == 0


def test_an_existing_certificate_and_the_ca_are_kept(tmp_path):
    first = tls.ensure_server_cert(tmp_path, "postgresql", "pg")
    before = (first[0].read_bytes(), (tls.tls_dir(tmp_path) / "ca.pem").read_bytes())
    second = tls.ensure_server_cert(tmp_path, "postgresql", "pg")
    after = (second[0].read_bytes(), (tls.tls_dir(tmp_path) / "ca.pem").read_bytes())
    assert first == second and before == after
    # The broker's certificate (ensure_ca) is still made and unchanged by the new function.
    assert (tls.tls_dir(tmp_path) / "server.pem").exists()


def test_postgres_serves_tls_with_its_own_copy_of_the_certificate(tmp_path):
    config = StackConfig.from_env({"IOT_STACK_STATE_DIR": str(tmp_path)})
    postgres = next(s for s in all_services(config) if isinstance(s, Postgres))
    cert, key = postgres.tls_files(config)
    argv = postgres.argv(config)
    assert "ssl=on" in argv
    assert f"ssl_cert_file={cert}" in argv and f"ssl_key_file={key}" in argv
    postgres._install_tls(config)
    assert cert.read_bytes() == (tls.tls_dir(tmp_path) / "postgresql.pem").read_bytes()
    assert key.stat().st_mode & 0o077 == 0
