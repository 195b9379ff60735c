"""librdkafka configuration built from Settings (pure functions, no I/O)."""

from __future__ import annotations

from typing import Any

from iot_pipeline.config import Settings


def producer_config(settings: Settings, client_id: str) -> dict[str, Any]:
    """A durable producer: every record acknowledged by all in-sync replicas, no duplicates on
    retry (idempotence), batched and compressed for throughput."""
    return {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "client.id": client_id,
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": settings.kafka_compression_type,
        "linger.ms": settings.kafka_linger_ms,
        "batch.size": settings.kafka_batch_size,
        # Keep retrying through a broker restart or leader change rather than failing fast.
        "delivery.timeout.ms": 120_000,
        "queue.buffering.max.messages": 200_000,
    }


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
    return {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "group.id": group_id,
        "client.id": client_id,
        "auto.offset.reset": auto_offset_reset or settings.kafka_auto_offset_reset,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "partition.assignment.strategy": "cooperative-sticky",
        "isolation.level": "read_committed",
    }


def admin_config(settings: Settings) -> dict[str, Any]:
    return {"bootstrap.servers": settings.kafka_bootstrap_servers}
