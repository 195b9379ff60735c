"""``make run``'s live summary (pure: text in, text out; the caller scrapes and prints).

One row per pipeline stage: the service's health, its counter's total and rate since the last
refresh, the consumer lag where there is one, and the p99 of the stage's latency histogram over
the last refresh interval. On a terminal the table is redrawn in place; otherwise each refresh
prints plain ``key=value`` lines (logs, pipes, CI).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

Buckets = list[tuple[float, float]]  # (upper bound, cumulative count), sorted


@dataclass(frozen=True)
class Stage:
    label: str
    service: str
    counter: str  # summed over its label sets
    latency: str | None = None  # a histogram's name (without _bucket)
    lag: str | None = None  # a gauge summed over its label sets, on ``lag_source``
    lag_source: str | None = None  # the service exposing ``lag`` (default: ``service``)
    lag_labels: tuple[tuple[str, str], ...] = ()


STAGES = (
    Stage("simulated readings -> Kafka", "simulator", "kafka_producer_messages_delivered_total",
          "kafka_producer_delivery_latency_seconds"),
    Stage("ruuvi messages -> MQTT", "ruuvi-simulator", "iot_simulator_readings_total"),
    Stage("adapter: MQTT -> Kafka-confirmed", "ruuvitag-adapter",
          "mqtt_adapter_records_published_total", "mqtt_adapter_ack_latency_seconds"),
    Stage("sink: Kafka -> committed rows", "timescaledb-sink", "iot_messages_processed_total",
          "iot_sink_kafka_to_commit_seconds", "kafka_consumergroup_lag", "lag-exporter",
          (("consumergroup", "iot-timescaledb-sink"),)),
    Stage("alerts fired", "alert-consumer", "iot_alerts_fired_total", None,
          "iot_alerts_consumer_lag"),
    Stage("lake: Kafka -> Iceberg rows", "lake-archiver", "iot_lake_rows_archived_total",
          "iot_lake_commit_duration_seconds", "iot_lake_snapshot_lag_messages"),
)  # fmt: skip


@dataclass(frozen=True)
class Row:
    label: str
    health: str
    total: float | None
    rate: float | None
    lag: float | None
    p99: float | None  # seconds


def samples(text: str, name: str, labels: tuple[tuple[str, str], ...] = ()) -> list[tuple]:
    """(labels, value) of every sample called ``name`` that carries ``labels``."""
    found = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels):
                found.append((sample.labels, sample.value))
    return found


def total(text: str, name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
    return sum(value for _, value in samples(text, name, labels))


def buckets(text: str, histogram: str) -> Buckets:
    """A histogram's cumulative buckets, summed over its other labels."""
    summed: dict[float, float] = {}
    for labels, value in samples(text, f"{histogram}_bucket"):
        le = float(labels["le"])
        summed[le] = summed.get(le, 0.0) + value
    return sorted(summed.items())


def quantile(before: Buckets, after: Buckets, q: float) -> float | None:
    """The q-quantile of what was observed between two snapshots (linear inside a bucket);
    None when nothing was."""
    base = dict(before)
    counts = [(le, count - base.get(le, 0.0)) for le, count in after]
    observed = counts[-1][1] if counts else 0.0
    if observed <= 0:
        return None
    rank = q * observed
    lower, below = 0.0, 0.0
    for le, cumulative in counts:
        if cumulative >= rank:
            if math.isinf(le):
                return lower
            inside = cumulative - below
            return lower + (le - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = le, cumulative
    return lower


def health(running: bool | None, exit_code: int | None, text: str | None) -> str:
    """``up`` (metrics answer), ``starting`` (running, no metrics yet), ``exited N``, or
    ``down`` (not started here and not answering)."""
    if running is False:
        return f"exited {exit_code}"
    if text is not None:
        return "up"
    return "starting" if running else "down"


def stage_row(
    stage: Stage,
    texts: Mapping[str, str | None],
    previous: Mapping[str, str | None],
    state: tuple[bool | None, int | None],
    elapsed: float,
) -> Row:
    """One stage's row from this refresh's and the last refresh's scrapes."""
    text, before = texts.get(stage.service), previous.get(stage.service)
    count = rate = lag = p99 = None
    if text is not None:
        count = total(text, stage.counter)
        if before is not None and elapsed > 0:
            rate = max(0.0, count - total(before, stage.counter)) / elapsed
        if stage.latency is not None:
            old = buckets(before, stage.latency) if before is not None else []
            p99 = quantile(old, buckets(text, stage.latency), 0.99)
    lag_text = texts.get(stage.lag_source or stage.service)
    if stage.lag is not None and lag_text is not None:
        found = samples(lag_text, stage.lag, stage.lag_labels)
        lag = sum(value for _, value in found) if found else None
    return Row(stage.label, health(*state, text), count, rate, lag, p99)


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.1f} ms"


COLUMNS = (("stage", 34), ("health", 10), ("total", 13), ("rate/s", 10), ("lag", 9),
           ("p99", 11))  # fmt: skip


def table(rows: list[Row], clock: str) -> list[str]:
    """The summary as a fixed-width table (for a terminal)."""
    head = "".join(f"{name:<{width}}" if i == 0 else f"{name:>{width}}"
                   for i, (name, width) in enumerate(COLUMNS))  # fmt: skip
    lines = [f"pipeline at {clock}  (Ctrl-C stops)", head, "-" * len(head)]
    for row in rows:
        cells = (row.label, row.health, _num(row.total, ",.0f"), _num(row.rate, ",.1f"),
                 _num(row.lag, ",.0f"), _ms(row.p99))  # fmt: skip
        lines.append(
            "".join(
                f"{cell:<{width}}" if i == 0 else f"{cell:>{width}}"
                for i, (cell, (_, width)) in enumerate(zip(cells, COLUMNS, strict=True))
            )
        )
    return lines


def plain(rows: list[Row], clock: str) -> list[str]:
    """The summary as plain lines (not a terminal): one per stage, nothing redrawn."""
    return [
        f"{clock} {row.label}: health={row.health} total={_num(row.total, '.0f')} "
        f"rate={_num(row.rate, '.1f')}/s lag={_num(row.lag, '.0f')} p99={_ms(row.p99)}"
        for row in rows
    ]


def redraw(lines: list[str], previous_height: int) -> str:
    """Terminal text that replaces the last ``previous_height`` lines with ``lines``: cursor
    up to the start of the old table, clear to the end of the screen, the new table."""
    up = f"\x1b[{previous_height}F" if previous_height else ""
    return up + "\x1b[J" + "\n".join(lines) + "\n"
