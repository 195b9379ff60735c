"""The native stack's monitoring services: how each is started (no process is started here)."""

from __future__ import annotations

import asyncio
from email import message_from_bytes
from pathlib import Path
from types import SimpleNamespace

from devstack.config import StackConfig
from devstack.monitoring import (
    POSTGRES_QUERIES,
    format_targets,
    maildir,
    monitoring_services,
    probes,
)
from devstack.smtp_sink import MaildirHandler


def cfg(tmp_path: Path) -> StackConfig:
    return StackConfig.from_env({"IOT_STACK_STATE_DIR": str(tmp_path)}).with_secrets()


def test_every_monitoring_service_listens_on_loopback_with_a_probe(tmp_path: Path) -> None:
    config = cfg(tmp_path)
    services = {s.name: s for s in monitoring_services(config)}
    assert set(services) == {
        "node-exporter",
        "postgres-exporter",
        "mosquitto-exporter",
        "lag-exporter",
        "smtp-sink",
    }
    assert set(probes()) == set(services)
    # devstack treats names starting with "kafka-" as brokers (probes, stop order)
    assert not any(name.startswith("kafka-") for name in services)
    ports = {name: s.ports for name, s in services.items()}
    assert ports == {
        "node-exporter": (9100,),
        "postgres-exporter": (9187,),
        "mosquitto-exporter": (9234,),
        "lag-exporter": (9308,),
        "smtp-sink": (1025,),
    }
    node = services["node-exporter"].argv(config)
    assert "--web.listen-address=127.0.0.1:9100" in node
    assert "--collector.disable-defaults" in node and "--collector.filesystem" in node
    postgres = services["postgres-exporter"]
    assert "--web.listen-address=127.0.0.1:9187" in postgres.argv(config)
    assert f"--extend.query-path={POSTGRES_QUERIES}" in postgres.argv(config)
    assert postgres.env(config)["DATA_SOURCE_NAME"] == (
        f"postgresql://iot_monitoring:{config.secrets['postgres_iot_monitoring_password']}"
        "@127.0.0.1:5432/iot_data?sslmode=disable"
    )


def test_python_services_run_the_projects_modules(tmp_path: Path) -> None:
    config = cfg(tmp_path)
    services = {s.name: s for s in monitoring_services(config)}
    lag = services["lag-exporter"].argv(config)
    assert lag[1:3] == ["-m", "iot_pipeline.exporters.kafka_lag"]
    assert lag[lag.index("--bootstrap-servers") + 1] == config.kafka_secure_bootstrap
    login = services["lag-exporter"].env(config)
    assert login["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert login["KAFKA_SASL_USERNAME"] == "iot-lag-exporter"
    mqtt = services["mosquitto-exporter"].argv(config)
    assert mqtt[1:3] == ["-m", "iot_pipeline.exporters.mosquitto"]
    assert mqtt[mqtt.index("--mqtt-port") + 1] == str(config.mqtt_port)
    smtp = services["smtp-sink"].argv(config)
    assert smtp[1:3] == ["-m", "devstack.smtp_sink"]
    assert smtp[smtp.index("--maildir") + 1] == str(maildir(config))
    assert maildir(config) == tmp_path / "mail"


def test_smtp_sink_stores_each_message_in_the_maildir(tmp_path: Path) -> None:
    handler = MaildirHandler(tmp_path / "mail")
    raw = b"Subject: [FIRING:1] KafkaBrokerDown\r\nTo: oncall@x\r\n\r\nbroker = kafka-3\r\n"
    envelope = SimpleNamespace(
        original_content=raw, content=raw, mail_from="am@x", rcpt_tos=["oncall@x"]
    )
    reply = asyncio.run(handler.handle_DATA(None, None, envelope))
    assert reply.startswith("250")
    stored = list((tmp_path / "mail" / "new").iterdir())
    assert len(stored) == 1
    msg = message_from_bytes(stored[0].read_bytes())
    assert msg["Subject"] == "[FIRING:1] KafkaBrokerDown"
    assert "kafka-3" in msg.get_payload()


def test_scrape_targets_are_listed_sorted_and_aligned() -> None:
    targets = [
        {"labels": {"job": "node", "instance": "127.0.0.1:9100"}, "health": "up", "lastError": ""},
        {
            "labels": {"job": "iot-timescaledb-sink", "instance": "127.0.0.1:8003"},
            "health": "down",
            "lastError": "connection refused",
        },
    ]
    assert format_targets(targets) == [
        "  iot-timescaledb-sink  127.0.0.1:8003  down     connection refused",
        "  node                  127.0.0.1:9100  up",
    ]
    assert format_targets([]) == []
