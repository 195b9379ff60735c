"""The whole-pipeline benchmark's arithmetic (pure: no I/O): each message's latency from its
publish time to the commit of its last row, percentiles, the step table and the choice of the
highest sustainable rate."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

MessageKey = tuple[str, int]  # (tag MAC, measurement sequence): one published message


def nearest_rank(values: Sequence[float], q: float) -> float:
    """The q-quantile by nearest rank (an observed value; NaN for no values)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def commit_times(
    rows: Iterable[tuple[MessageKey, str]], committed_at: Mapping[str, float]
) -> tuple[dict[MessageKey, float], int]:
    """When each message's last row became visible: ``rows`` are (message, the transaction's
    start time as PostgreSQL printed it, = created_at), ``committed_at`` maps that start time
    to when its commit notification arrived. Returns (message -> commit time, rows whose
    transaction sent no notification)."""
    done: dict[MessageKey, float] = {}
    unmatched = 0
    for key, started in rows:
        at = committed_at.get(started)
        if at is None:
            unmatched += 1
            continue
        done[key] = max(done.get(key, at), at)
    return done, unmatched


@dataclass(frozen=True)
class StepResult:
    """One offered load: what was published, stored, how fast and how late."""

    label: str
    offered: float  # messages/s asked of the publisher (0: as fast as it can)
    published: int
    stored: int
    achieved: float  # messages/s from the first publish to the last commit
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    transactions_per_s: float  # database commits/s the sink made during the step
    adapter_p99_ms: float = math.nan  # stage 1: MQTT receive -> Kafka-confirmed (its histogram)
    sink_p99_ms: float = math.nan  # stage 2: Kafka timestamp -> committed (its histogram)

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def step_result(
    label: str,
    offered: float,
    published_at: Mapping[MessageKey, float],
    committed: Mapping[MessageKey, float],
    transactions: int,
) -> StepResult:
    """A step's figures from each message's publish and commit times (same clock)."""
    latencies = [
        (committed[key] - at) * 1000.0 for key, at in published_at.items() if key in committed
    ]
    first = min(published_at.values(), default=0.0)
    last = max((committed[k] for k in published_at if k in committed), default=first)
    span = last - first
    achieved = len(latencies) / span if span > 0 else math.nan
    return StepResult(
        label=label,
        offered=offered,
        published=len(published_at),
        stored=len(latencies),
        achieved=achieved,
        p50_ms=nearest_rank(latencies, 0.50),
        p95_ms=nearest_rank(latencies, 0.95),
        p99_ms=nearest_rank(latencies, 0.99),
        max_ms=max(latencies, default=math.nan),
        transactions_per_s=transactions / span if span > 0 else math.nan,
    )


def sustained(step: StepResult, tolerance: float = 0.9) -> bool:
    """The pipeline kept up: everything stored and the achieved rate within ``tolerance`` of
    the offered one (a backlog would stretch the span and lower it)."""
    return step.stored == step.published and step.achieved >= tolerance * step.offered


HEADER = (
    f"{'step':<22}{'offered/s':>10}{'achieved/s':>11}{'stored':>14}"
    f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'db tx/s':>9}"
    f"{'adapter p99':>13}{'sink p99':>10}"
)


def table(steps: Sequence[StepResult]) -> str:
    """The steps as a fixed-width table for the terminal."""
    lines = [HEADER, "-" * len(HEADER)]
    for s in steps:
        offered = f"{s.offered:,.0f}" if s.offered else "max"
        stored = f"{s.stored:,}/{s.published:,}"
        lines.append(
            f"{s.label:<22}{offered:>10}{s.achieved:>11,.0f}{stored:>14}"
            f"{s.p50_ms:>9.1f}{s.p95_ms:>9.1f}{s.p99_ms:>9.1f}{s.max_ms:>9.1f}"
            f"{s.transactions_per_s:>9.1f}{s.adapter_p99_ms:>13.1f}{s.sink_p99_ms:>10.1f}"
        )
    return "\n".join(lines)


def markdown_table(steps: Sequence[StepResult]) -> str:
    """The steps as a Markdown table (README)."""
    lines = [
        "| step | offered msg/s | achieved msg/s | stored | p50 ms | p95 ms | p99 ms | max ms "
        "| DB tx/s | adapter p99 ms | sink p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in steps:
        offered = f"{s.offered:,.0f}" if s.offered else "as fast as possible"
        lines.append(
            f"| {s.label} | {offered} | {s.achieved:,.0f} | {s.stored:,}/{s.published:,} "
            f"| {s.p50_ms:.1f} | {s.p95_ms:.1f} | {s.p99_ms:.1f} | {s.max_ms:.1f} "
            f"| {s.transactions_per_s:.1f} | {s.adapter_p99_ms:.1f} | {s.sink_p99_ms:.1f} |"
        )
    return "\n".join(lines)


def ratio(ours: float, reference: float) -> float:
    """``ours`` as a share of ``reference`` (NaN when the reference is missing)."""
    return ours / reference if reference and not math.isnan(reference) else math.nan
