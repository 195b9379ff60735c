"""The pipeline's topics: their desired settings (pure) and an idempotent admin step.

`python -m iot_pipeline.kafka.topics` creates missing topics and warns about existing ones whose
partitions, replication or configs differ (it never changes an existing topic by itself: that is an
operator's decision, e.g. partitions can only grow and regrowing changes key placement).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
from loguru import logger

from iot_pipeline.config import Settings

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int
    config: Mapping[str, str] = field(default_factory=dict)


def pipeline_topics(settings: Settings) -> list[TopicSpec]:
    """Readings, dead letters and alerts, as the settings describe them."""
    durable = {"min.insync.replicas": str(settings.kafka_min_insync_replicas)}
    return [
        TopicSpec(
            settings.kafka_topic_name,
            settings.kafka_partitions,
            settings.kafka_replication_factor,
            {**durable, "retention.ms": str(settings.kafka_retention_ms)},
        ),
        TopicSpec(
            settings.kafka_dlq_topic_name,
            settings.kafka_partitions,
            settings.kafka_replication_factor,
            # Dead letters wait for a person: keep them longer than the data.
            {**durable, "retention.ms": str(30 * DAY_MS)},
        ),
        TopicSpec(
            settings.kafka_alerts_topic_name,
            settings.kafka_partitions,
            settings.kafka_replication_factor,
            # Alert events are keyed device|rule and the alert consumer rebuilds its open alerts
            # from the last event per key: compaction keeps exactly that, however old.
            {**durable, "cleanup.policy": "compact"},
        ),
    ]


def topic_differences(
    spec: TopicSpec, partitions: int, replication_factor: int, config: Mapping[str, str]
) -> list[str]:
    """How an existing topic differs from its spec, one readable line per difference."""
    differences = []
    if partitions != spec.partitions:
        differences.append(f"{spec.name}: {partitions} partitions, expected {spec.partitions}")
    if replication_factor != spec.replication_factor:
        differences.append(
            f"{spec.name}: replication factor {replication_factor}, "
            f"expected {spec.replication_factor}"
        )
    for key, wanted in sorted(spec.config.items()):
        actual = config.get(key)
        if actual != wanted:
            differences.append(f"{spec.name}: {key}={actual}, expected {wanted}")
    return differences


def ensure_topics(admin: AdminClient, specs: list[TopicSpec], timeout: float = 30.0) -> list[str]:
    """Create missing topics; return the differences found on existing ones (also logged)."""
    existing = admin.list_topics(timeout=timeout).topics
    missing = [spec for spec in specs if spec.name not in existing]
    created: set[str] = set()
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(s.name, s.partitions, s.replication_factor, config=dict(s.config))
                for s in missing
            ],
            operation_timeout=timeout,
        )
        for name, future in futures.items():
            try:
                future.result()
                created.add(name)
                logger.info("created topic {}", name)
            except KafkaException as error:
                # It exists after all: another process created it between our list and create,
                # or the broker that answered the list had not learnt of it yet (KRaft metadata
                # reaches brokers a moment apart). Either way it is checked for drift below.
                if error.args[0].name() != "TOPIC_ALREADY_EXISTS":
                    raise
    # Wait until every topic is usable, so a service can produce right after this returns.
    metadata = _wait_for_leaders(admin, [spec.name for spec in specs], timeout)
    differences: list[str] = []
    present = [spec for spec in specs if spec.name not in created]
    if present:
        for spec in present:
            entries = _describe_topic_config(admin, spec.name, timeout)
            topic = metadata[spec.name]
            replication = len(next(iter(topic.partitions.values())).replicas)
            differences += topic_differences(
                spec,
                len(topic.partitions),
                replication,
                {key: entry.value for key, entry in entries.items()},
            )
    for line in differences:
        logger.warning("topic differs from its settings: {}", line)
    return differences


def _wait_for_leaders(admin: AdminClient, names: list[str], timeout: float) -> dict[str, Any]:
    """Topic metadata once every partition of every named topic has a leader (a new topic
    reaches the brokers a moment apart)."""
    deadline = time.monotonic() + timeout
    while True:
        topics = admin.list_topics(timeout=timeout).topics
        ready = all(
            name in topics
            and topics[name].error is None
            and topics[name].partitions
            and all(p.leader >= 0 for p in topics[name].partitions.values())
            for name in names
        )
        if ready:
            return topics
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics {names} have no leaders after {timeout}s")
        time.sleep(0.2)


def _describe_topic_config(admin: AdminClient, name: str, timeout: float) -> dict[str, Any]:
    """The topic's config entries. A topic created a moment ago (by us or by another process) may
    not have reached the broker that answers yet: retry that case briefly."""
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    deadline = time.monotonic() + timeout
    while True:
        try:
            entries: dict[str, Any] = admin.describe_configs([resource], request_timeout=timeout)[
                resource
            ].result()
            return entries
        except KafkaException as error:
            unknown = error.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART
            if not unknown or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def main() -> int:
    from iot_pipeline.config import load_settings_or_exit
    from iot_pipeline.kafka.config import admin_config
    from iot_pipeline.observability.logging import configure_logging

    settings = load_settings_or_exit("topics")
    configure_logging(settings.log_level, settings.log_format)
    ensure_topics(AdminClient(admin_config(settings)), pipeline_topics(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
