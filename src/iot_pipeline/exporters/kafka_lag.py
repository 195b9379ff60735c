"""Prometheus exporter for Kafka consumer-group lag, read from the brokers.

    python -m iot_pipeline.exporters.kafka_lag --bootstrap-servers 127.0.0.1:29092 --port 9308

Lag is what a group has not consumed yet: a partition's high watermark minus the group's committed
offset. Clients cannot report it when they are down, which is exactly when it matters, so this
exporter asks the brokers (AdminClient) every ``--interval`` seconds and serves the latest figures
with kafka_exporter's metric names:

    kafka_consumergroup_lag{consumergroup,topic,partition}
    kafka_consumergroup_current_offset{consumergroup,topic,partition}
    kafka_consumergroup_members{consumergroup}
    kafka_topic_partition_current_offset{topic,partition}   (high watermark)
    kafka_lag_exporter_up, kafka_lag_exporter_last_success_timestamp_seconds

Groups reported: every group with members (Stable or rebalancing), plus the pipeline's own groups
(``--groups`` regex) even when they have no member (a stopped sink's lag must stay visible).
Finished test groups (Empty) are not reported, so their series end.
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

TopicPartition = tuple[str, int]
ACTIVE_STATES = frozenset({"STABLE", "PREPARING_REBALANCING", "COMPLETING_REBALANCING"})
DEFAULT_GROUPS = r"iot-data-consumer|iot-timescaledb-sink"
MODULE = "iot_pipeline.exporters.kafka_lag"


def select_groups(listed: Iterable[tuple[str, str]], always: re.Pattern[str]) -> list[str]:
    """Groups to report, from (group id, state name) pairs: active ones and the ``always`` ones."""
    return sorted(
        {group for group, state in listed if state in ACTIVE_STATES or always.fullmatch(group)}
    )


def compute_lag(
    committed: Mapping[TopicPartition, int], high_watermarks: Mapping[TopicPartition, int]
) -> dict[TopicPartition, int]:
    """Lag per partition that has a committed offset and a known high watermark (never negative:
    the watermark is read after the commit and may lag behind it)."""
    lag = {}
    for tp, offset in committed.items():
        if offset < 0 or tp not in high_watermarks:
            continue
        lag[tp] = max(0, high_watermarks[tp] - offset)
    return lag


@dataclass(frozen=True)
class GroupLag:
    members: int
    committed: dict[TopicPartition, int]
    lag: dict[TopicPartition, int]


@dataclass(frozen=True)
class Snapshot:
    ok: bool
    groups: dict[str, GroupLag] = field(default_factory=dict)
    high_watermarks: dict[TopicPartition, int] = field(default_factory=dict)
    last_success: float | None = None
    duration_s: float = 0.0


def build_snapshot(
    groups: Mapping[str, tuple[int, Mapping[TopicPartition, int]]],
    high_watermarks: Mapping[TopicPartition, int],
    now: float,
    duration_s: float,
) -> Snapshot:
    """Combine what the brokers said into one consistent snapshot."""
    return Snapshot(
        ok=True,
        groups={
            group: GroupLag(members, dict(committed), compute_lag(committed, high_watermarks))
            for group, (members, committed) in groups.items()
        },
        high_watermarks=dict(high_watermarks),
        last_success=now,
        duration_s=duration_s,
    )


class LagCollector(Collector):
    """Serves the latest snapshot (replaced by the polling thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot = Snapshot(ok=False)

    def publish(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._snapshot = snapshot

    def failed(self) -> None:
        with self._lock:
            previous = self._snapshot
            self._snapshot = Snapshot(
                ok=False,
                groups=previous.groups,
                high_watermarks=previous.high_watermarks,
                last_success=previous.last_success,
                duration_s=previous.duration_s,
            )

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:
            snap = self._snapshot
        up = GaugeMetricFamily(
            "kafka_lag_exporter_up", "1 if the last poll of the brokers succeeded."
        )
        up.add_metric([], 1.0 if snap.ok else 0.0)
        yield up
        if snap.last_success is not None:
            last = GaugeMetricFamily(
                "kafka_lag_exporter_last_success_timestamp_seconds",
                "Unix time of the last successful poll.",
            )
            last.add_metric([], snap.last_success)
            yield last
            duration = GaugeMetricFamily(
                "kafka_lag_exporter_poll_duration_seconds", "Duration of the last successful poll."
            )
            duration.add_metric([], snap.duration_s)
            yield duration
        labels = ["consumergroup", "topic", "partition"]
        lag = GaugeMetricFamily(
            "kafka_consumergroup_lag", "Records not yet consumed.", labels=labels
        )
        current = GaugeMetricFamily(
            "kafka_consumergroup_current_offset", "Committed offset of the group.", labels=labels
        )
        members = GaugeMetricFamily(
            "kafka_consumergroup_members", "Members of the group.", labels=["consumergroup"]
        )
        for group, g in sorted(snap.groups.items()):
            members.add_metric([group], float(g.members))
            for (topic, partition), value in sorted(g.lag.items()):
                lag.add_metric([group, topic, str(partition)], float(value))
                current.add_metric(
                    [group, topic, str(partition)], float(g.committed[(topic, partition)])
                )
        hw = GaugeMetricFamily(
            "kafka_topic_partition_current_offset",
            "High watermark of a partition consumed by a reported group.",
            labels=["topic", "partition"],
        )
        for (topic, partition), value in sorted(snap.high_watermarks.items()):
            hw.add_metric([topic, str(partition)], float(value))
        yield from (lag, current, members, hw)


class BrokerPoller:
    """The I/O: one round of AdminClient requests."""

    def __init__(
        self, client: Mapping[str, Any], always: re.Pattern[str], timeout_s: float
    ) -> None:
        """``client``: the admin client's librdkafka configuration (kafka.config.client_config)."""
        from confluent_kafka.admin import AdminClient

        self._admin = AdminClient(dict(client))
        self._always = always
        self._timeout = timeout_s

    def poll(self) -> Snapshot:
        from confluent_kafka import ConsumerGroupTopicPartitions
        from confluent_kafka import TopicPartition as KafkaTopicPartition
        from confluent_kafka.admin import OffsetSpec

        started = time.monotonic()
        listed = self._admin.list_consumer_groups(request_timeout=self._timeout).result()
        chosen = select_groups(((g.group_id, g.state.name) for g in listed.valid), self._always)
        groups: dict[str, tuple[int, dict[TopicPartition, int]]] = {}
        if chosen:
            described = self._admin.describe_consumer_groups(chosen, request_timeout=self._timeout)
            for group in chosen:
                request = [ConsumerGroupTopicPartitions(group)]
                future = self._admin.list_consumer_group_offsets(
                    request, request_timeout=self._timeout
                )[group]
                result = future.result()
                committed = {
                    (tp.topic, tp.partition): tp.offset
                    for tp in result.topic_partitions or []
                    if tp.error is None
                }
                members = len(described[group].result().members)
                groups[group] = (members, committed)
        partitions = {tp for _m, committed in groups.values() for tp in committed}
        high: dict[TopicPartition, int] = {}
        if partitions:
            latest = {KafkaTopicPartition(t, p): OffsetSpec.latest() for t, p in partitions}  # type: ignore[no-untyped-call]
            futures = self._admin.list_offsets(latest, request_timeout=self._timeout)
            for ktp, fut in futures.items():
                try:
                    high[(ktp.topic, ktp.partition)] = fut.result().offset
                except Exception:  # a deleted topic: its partitions get no lag figure
                    continue
        return build_snapshot(groups, high, time.time(), time.monotonic() - started)


def supervise(argv: list[str]) -> int:
    """Run the exporter in a child process and start it again if it dies.

    librdkafka's admin client can abort the whole process (an assertion in its request
    bookkeeping) while brokers go away and come back; a restarted child keeps the exporter
    serving. SIGTERM/SIGINT stop the child and then the supervisor.
    """
    from loguru import logger

    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        child = subprocess.Popen([sys.executable, "-m", MODULE, "--worker", *argv])
        code = child.wait()
        if not stopping:
            logger.warning("exporter process exited with status {}; restarting it", code)
            time.sleep(2)
    return 0


def main(argv: list[str] | None = None) -> int:
    from loguru import logger
    from prometheus_client import start_http_server

    from iot_pipeline.config import load_settings_or_exit
    from iot_pipeline.kafka.config import client_config
    from iot_pipeline.observability.logging import configure_logging

    raw = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bootstrap-servers", default="127.0.0.1:29092,127.0.0.1:29093,127.0.0.1:29094"
    )
    parser.add_argument("--groups", default=DEFAULT_GROUPS, help="regex of groups always reported")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between polls")
    parser.add_argument("--timeout", type=float, default=8.0, help="seconds per broker request")
    parser.add_argument("--listen-host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9308)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(raw)
    configure_logging(args.log_level, "text", service="kafka-lag-exporter")
    if not args.worker:
        return supervise(raw)

    collector = LagCollector()
    registry = CollectorRegistry()
    registry.register(collector)
    start_http_server(args.port, addr=args.listen_host, registry=registry)
    logger.info("serving /metrics on {}:{}", args.listen_host, args.port)
    # How to log in comes from the environment like every service's (KAFKA_SECURITY_PROTOCOL,
    # KAFKA_SASL_*, KAFKA_SSL_CA_LOCATION); the brokers from the command line.
    settings = load_settings_or_exit("kafka-lag-exporter")
    client = client_config(settings, {"bootstrap.servers": args.bootstrap_servers})
    poller = BrokerPoller(client, re.compile(args.groups), args.timeout)
    failing = False
    while True:
        started = time.monotonic()
        try:
            collector.publish(poller.poll())
            if failing:
                logger.info("polling the brokers works again")
            failing = False
        except Exception as exc:  # broker errors come as KafkaException; keep serving
            collector.failed()
            if not failing:
                logger.warning("polling the brokers failed: {}", exc)
            failing = True
        time.sleep(max(0.0, args.interval - (time.monotonic() - started)))


if __name__ == "__main__":
    raise SystemExit(main())
