"""librdkafka configuration built from Settings (pure functions, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iot_pipeline.config import Settings


def security_config(settings: Settings) -> dict[str, Any]:
    """How a client authenticates and encrypts (KAFKA_SECURITY_PROTOCOL and friends): the
    librdkafka keys for the protocol, SASL login and CA bundle; nothing extra for PLAINTEXT."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    config: dict[str, Any] = {"security.protocol": protocol.lower()}
    if protocol.startswith("SASL_"):
        # The settings model refuses a SASL protocol without both (KafkaSettings).
        assert settings.kafka_sasl_username and settings.kafka_sasl_password
        config["sasl.mechanism"] = settings.kafka_sasl_mechanism
        config["sasl.username"] = settings.kafka_sasl_username
        config["sasl.password"] = settings.kafka_sasl_password.get_secret_value()
    if protocol.endswith("SSL") and settings.kafka_ssl_ca_location is not None:
        config["ssl.ca.location"] = str(settings.kafka_ssl_ca_location)
    return config


def client_config(settings: Settings, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The base of every client's configuration: where the brokers are and how to log in to
    them. Every producer, consumer and admin client of the pipeline starts from this."""
    return {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        **security_config(settings),
        **(extra or {}),
    }


def producer_config(settings: Settings, client_id: str) -> dict[str, Any]:
    """A durable producer: every record acknowledged by all in-sync replicas, no duplicates on
    retry (idempotence), batched and compressed for throughput."""
    return client_config(
        settings,
        {
            "client.id": client_id,
            "acks": "all",
            "enable.idempotence": True,
            "compression.type": settings.kafka_compression_type,
            "linger.ms": settings.kafka_linger_ms,
            "batch.size": settings.kafka_batch_size,
            # Keep retrying through a broker restart or leader change rather than failing fast.
            "delivery.timeout.ms": 120_000,
            "queue.buffering.max.messages": 200_000,
        },
    )


def consumer_config(
    settings: Settings,
    group_id: str,
    client_id: str,
    *,
    auto_offset_reset: str | None = None,
) -> dict[str, Any]:
    """An at-least-once consumer: offsets are committed only by the service, after processing.

    cooperative-sticky keeps unaffected partitions flowing during a rebalance.
    """
    return client_config(
        settings,
        {
            "group.id": group_id,
            "client.id": client_id,
            "auto.offset.reset": auto_offset_reset or settings.kafka_auto_offset_reset,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "partition.assignment.strategy": "cooperative-sticky",
            "isolation.level": "read_committed",
        },
    )


def admin_config(settings: Settings) -> dict[str, Any]:
    return client_config(settings)
