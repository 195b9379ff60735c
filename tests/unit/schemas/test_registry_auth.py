"""The services' registry client sends HTTP Basic credentials when the settings have them (a real
SchemaRegistryClient against a loopback HTTP server that records the Authorization header)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from iot_pipeline.config import load_settings
from iot_pipeline.schemas.registry import registry_client_config


@pytest.fixture
def registry() -> Iterator[tuple[str, list[str | None]]]:
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            body = json.dumps(["subject-a"]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()


def test_without_credentials_the_client_sends_none(registry) -> None:  # type: ignore[no-untyped-def]
    url, seen = registry
    settings = load_settings(schema_registry_url=url)
    assert registry_client_config(settings) == {"url": url}
    assert SchemaRegistryClient(registry_client_config(settings)).get_subjects() == ["subject-a"]
    assert seen == [None]


def test_with_credentials_the_client_sends_basic_auth(registry) -> None:  # type: ignore[no-untyped-def]
    url, seen = registry
    password = "test-only-" + "registry"
    settings = load_settings(
        schema_registry_url=url,
        schema_registry_username="iot-sink",
        schema_registry_password=password,
    )
    SchemaRegistryClient(registry_client_config(settings)).get_subjects()
    expected = base64.b64encode(f"iot-sink:{password}".encode()).decode()
    assert seen == [f"Basic {expected}"]
    assert password not in repr(settings)


def test_the_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEMA_REGISTRY_USERNAME", "iot-adapter")
    monkeypatch.setenv("SCHEMA_REGISTRY_PASSWORD", "test-only-pw")
    config = registry_client_config(load_settings())
    assert config["basic.auth.user.info"] == "iot-adapter:test-only-pw"
