"""Helpers shared by the benchmarks: the local stack's endpoints and throw-away topics."""

from __future__ import annotations

import uuid

from confluent_kafka.admin import AdminClient, NewTopic

from devstack.config import StackConfig


def stack() -> StackConfig:
    return StackConfig.from_env()


def create_topic(bootstrap: str, prefix: str, partitions: int = 6) -> str:
    """A fresh topic like the readings topic (RF 3, min.insync.replicas 2)."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(name, partitions, 3, config={"min.insync.replicas": "2"})]
    )
    futures[name].result(30)
    return name


def delete_topic(bootstrap: str, name: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})  # must outlive the future
    admin.delete_topics([name])[name].result(30)


def ratio_line(label: str, ours: float, reference: float, target: float) -> str:
    ratio = ours / reference if reference else float("nan")
    verdict = "meets" if ratio >= target else "BELOW"
    return f"{label}: {ratio:.1%} of the reference ({verdict} the {target:.0%} target)"
