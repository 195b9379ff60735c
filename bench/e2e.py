"""The whole pipeline, MQTT publish -> committed row, at stepped offered loads (``make bench
BENCH=e2e``).

Per step: messages published (firmware and official-gateway messages alternately) at a steady
rate, each one's latency from its publish time to the commit of its last row (bench/e2e_pipeline:
the commit clock), achieved rate and the database transactions/s it cost. First the highest
sustainable rate (a burst as fast as the publisher goes: the pipeline's capacity), then the
offered loads, then half the capacity. ``linger.ms`` choices are measured the same way (light
load latency and capacity per value). The bare references run in the same run: MQTT alone
(mosquitto_pub -> Mosquitto -> paho), Kafka alone (produce -> consume of as many records, RF 3,
acks=all) and COPY alone (the stored rows again into a fresh schema), each as a ratio.

Output: the table on the terminal, ``build/bench/e2e/e2e.json`` and ``latency_vs_load.png``.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench import e2e_refs
from bench.adapter_process import percentile
from bench.common import delete_topic, stack
from bench.e2e_pipeline import Pipeline, Publisher
from bench.e2e_stats import (
    StepResult,
    commit_times,
    markdown_table,
    step_result,
    sustained,
    table,
)
from devstack.config import REPO_ROOT
from iot_pipeline.config import load_settings

OUTPUT = Path(os.environ.get("BENCH_OUTPUT", REPO_ROOT / "build" / "bench" / "e2e"))
LOADS = tuple(float(x) for x in os.environ.get("BENCH_E2E_LOADS", "10,100,1000,3000").split(","))
LINGERS = tuple(float(x) for x in os.environ.get("BENCH_E2E_LINGERS", "5,20,50").split(","))
STEP_SECONDS = float(os.environ.get("BENCH_E2E_SECONDS", "10"))
BURST = int(os.environ.get("BENCH_E2E_BURST", "10000"))
SETTLE_TIMEOUT = 120.0


def _wait_stored(pipeline: Pipeline, step: int, count: int) -> None:
    """Until every message of ``step`` has a row, or nothing new arrived for 15 s."""
    last, changed = -1, time.monotonic()
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        stored = pipeline.stored_messages(step)
        if stored >= count:
            time.sleep(0.5)  # the last rows of a message may commit a moment after its first
            return
        if stored != last:
            last, changed = stored, time.monotonic()
        elif time.monotonic() - changed > 15:
            return
        time.sleep(0.25)


class Runner:
    def __init__(self, pipeline: Pipeline, publisher: Publisher) -> None:
        self.pipeline = pipeline
        self.publisher = publisher
        self.step = 0

    def measure(self, label: str, rate: float, count: int) -> StepResult:
        self.step += 1
        step = self.step
        transactions_before = len(self.pipeline.clock.committed)
        histograms = self.pipeline.stage_histograms()
        published = self.publisher.run(self.pipeline.messages, step, rate, count)
        _wait_stored(self.pipeline, step, len(published))
        transactions = len(self.pipeline.clock.committed) - transactions_before
        stages = {
            name: percentile(before, after, 0.99) * 1000.0
            for (name, before), after in zip(
                histograms.items(), self.pipeline.stage_histograms().values(), strict=True
            )
        }
        committed, unmatched = commit_times(
            self.pipeline.stored(step), self.pipeline.clock.committed
        )
        if unmatched:
            print(f"  ({unmatched} rows without a commit notification)", file=sys.stderr)
        result = replace(
            step_result(label, rate, published, committed, transactions),
            adapter_p99_ms=stages["adapter"],
            sink_p99_ms=stages["sink"],
        )
        print(
            f"  {label}: {result.stored:,}/{result.published:,} stored, "
            f"{result.achieved:,.0f} msg/s, p99 {result.p99_ms:.1f} ms",
            flush=True,
        )
        return result

    def warm_up(self) -> None:
        """A few messages after a (re)start, not reported: group joins, connections, caches."""
        self.measure("(warm-up)", 20.0, 60)

    def steady(self, label: str, rate: float) -> StepResult:
        count = max(50, int(rate * STEP_SECONDS))
        return self.measure(label, rate, count)


def linger_sweep(runner: Runner) -> list[dict[str, float]]:
    """Per linger.ms: latency at 100 msg/s and the capacity (a burst)."""
    rows = []
    for linger in LINGERS:
        runner.pipeline.start(linger)
        runner.warm_up()
        light = runner.steady(f"linger {linger:g} ms, 100/s", 100.0)
        burst = runner.measure(f"linger {linger:g} ms, burst", 0.0, BURST)
        rows.append(
            {
                "linger_ms": linger,
                "p50_ms_at_100": light.p50_ms,
                "p99_ms_at_100": light.p99_ms,
                "capacity_msgs": burst.achieved,
            }
        )
    return rows


def load_steps(runner: Runner, linger: float) -> tuple[list[StepResult], float]:
    runner.pipeline.start(linger)
    runner.warm_up()
    burst = runner.measure("burst (capacity)", 0.0, BURST)
    capacity = burst.achieved
    steps = [runner.steady(f"{load:,.0f}/s", load) for load in LOADS]
    half = runner.steady("half the highest", math.floor(capacity / 2))
    return [*steps, half, burst], capacity


def records_per_message(pipeline: Pipeline, step: int) -> float:
    rows = pipeline.stored(step)
    messages = len({key for key, _ in rows})
    return len(rows) / messages if messages else math.nan


def plot(steps: list[StepResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Steps above capacity measure their own backlog, not the pipeline: left out of the curve.
    paced = sorted((s for s in steps if s.offered and sustained(s)), key=lambda s: s.achieved)
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name, attr in (("p50", "p50_ms"), ("p95", "p95_ms"), ("p99", "p99_ms")):
        axes.plot(
            [s.achieved for s in paced], [getattr(s, attr) for s in paced], marker="o", label=name
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("achieved load (MQTT messages/s)")
    axes.set_ylabel("publish -> committed row (ms)")
    axes.set_title("publish -> committed row, sustained loads (make bench BENCH=e2e)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def run() -> int:
    cfg = stack()
    settings = load_settings(
        kafka_bootstrap_servers=cfg.kafka_bootstrap,
        schema_registry_url=cfg.registry_url,
        postgres_password=cfg.postgres_password,
        postgres_port=cfg.postgres_port,
    )
    OUTPUT.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    pipeline = Pipeline(cfg, settings, workdir)
    publisher = Publisher(cfg.mqtt_port)
    try:
        runner = Runner(pipeline, publisher)
        print(f"service logs: {workdir}", flush=True)
        print("linger.ms choices:", flush=True)
        lingers = linger_sweep(runner)
        default_linger = settings.kafka_linger_ms
        print(f"offered loads (linger.ms {default_linger:g}, the default):", flush=True)
        steps, capacity = load_steps(runner, default_linger)
        per_message = records_per_message(pipeline, runner.step)
        copy_rows = pipeline.stored(runner.step)
    finally:
        publisher.close()
        pipeline.close()
        for topic in (pipeline.topic, f"{pipeline.topic}-dlq"):
            try:
                delete_topic(cfg.kafka_bootstrap, topic)
            except Exception as exc:  # a leftover topic is not worth failing the run
                print(f"could not delete topic {topic}: {exc}", file=sys.stderr)
    references = e2e_refs.measure(cfg, settings, len(copy_rows), BURST)
    return report(steps, lingers, capacity, per_message, references)


def report(
    steps: list[StepResult],
    lingers: list[dict[str, float]],
    capacity: float,
    per_message: float,
    references: dict[str, float],
) -> int:
    print()
    print(table(steps))
    print(f"\nrows per message: {per_message:.1f}")
    print("\nlinger.ms   p50 ms @100/s   p99 ms @100/s   capacity msg/s")
    for row in lingers:
        print(
            f"{row['linger_ms']:>9g} {row['p50_ms_at_100']:>15.1f} {row['p99_ms_at_100']:>15.1f} "
            f"{row['capacity_msgs']:>16,.0f}"
        )
    ratios = e2e_refs.ratios(capacity, per_message, references)
    print("\nbare references, same run:")
    for line in e2e_refs.lines(references, ratios):
        print(f"  {line}")
    result = {
        "machine": e2e_refs.machine(),
        "steps": [s.as_dict() for s in steps],
        "linger": lingers,
        "capacity_msgs_per_s": capacity,
        "rows_per_message": per_message,
        "references": references,
        "ratios": ratios,
    }
    (OUTPUT / "e2e.json").write_text(json.dumps(result, indent=2))
    (OUTPUT / "e2e.md").write_text(markdown_table(steps) + "\n")
    plot(steps, OUTPUT / "latency_vs_load.png")
    print(f"\nwrote {OUTPUT / 'e2e.json'}, e2e.md and latency_vs_load.png")
    return 0


if __name__ == "__main__":
    sys.exit(run())
