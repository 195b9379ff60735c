"""``make chaos``: a steady stream through the whole pipeline while each fault is injected, held
and healed; then what every fault cost: readings lost or stored twice, alerts repeated, time to
recover, and whether the matching Prometheus alert noticed.

The run holds the shared stack for its whole length and leaves it healthy: every stack service it
stopped is started again by ``devstack.lifecycle.up`` (which waits for health), and a final
``up`` runs whatever happened.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos import report
from chaos.faults import Fault, StackControl, service_faults, stack_faults, wait_healthy
from chaos.pipeline import ChaosPipeline, SteadyPublisher
from devstack import proc
from devstack.config import REPO_ROOT, StackConfig
from iot_pipeline.config import load_settings

OUTPUT = Path(os.environ.get("CHAOS_OUTPUT", REPO_ROOT / "build" / "chaos"))
RATE = float(os.environ.get("CHAOS_RATE", "40"))  # MQTT messages/s of the steady stream
LEAD_S, TAIL_S, RECOVERY_TIMEOUT_S = 3.0, 3.0, 60.0


@dataclass
class Window:
    fault: Fault
    start: float
    injected: float
    healed: float = math.nan
    end: float = math.nan
    recovery_s: float = math.nan
    alert_state: str = "n/a"
    detected_s: float = math.nan
    alert_for_s: float = 0.0


def prometheus_get(cfg: StackConfig, path: str, params: dict[str, object]) -> Any:
    query = urllib.parse.urlencode(params)
    url = f"http://127.0.0.1:{cfg.prometheus_port}/api/v1/{path}?{query}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)["data"]


def alert_rule(cfg: StackConfig, alert: str) -> tuple[str, float]:
    """The alert's expression and `for:` in seconds, as the running Prometheus loaded them."""
    for group in prometheus_get(cfg, "rules", {"type": "alert"})["groups"]:
        for rule in group["rules"]:
            if rule["name"] == alert:
                return rule["query"], float(rule.get("duration", 0))
    raise RuntimeError(f"Prometheus has no alert rule {alert!r}")


def observe_alert(cfg: StackConfig, window: Window) -> None:
    """When the alert's condition first held (its expression evaluated every second over the
    window) and the highest state the alert itself reached (``ALERTS``)."""
    alert = window.fault.alert
    span = {"start": window.injected, "end": window.end}
    try:
        expr, window.alert_for_s = alert_rule(cfg, alert)
        held = prometheus_get(cfg, "query_range", {"query": expr, **span, "step": "1"})
        states = prometheus_get(
            cfg, "query_range", {"query": f'ALERTS{{alertname="{alert}"}}', **span, "step": "1"}
        )
    except OSError:
        window.alert_state = "unknown (Prometheus not reachable)"
        return
    window.detected_s = report.first_true_after(held["result"], window.injected)
    window.alert_state = report.alert_state(
        {series["metric"].get("alertstate", "") for series in states["result"]}
    )


def run_fault(pipeline: ChaosPipeline, cfg: StackConfig, fault: Fault) -> Window:
    print(f"[chaos] {fault.name} ...", flush=True)
    start = time.time()
    time.sleep(LEAD_S)
    window = Window(fault, start, time.time())
    try:
        fault.inject()
        time.sleep(fault.hold_s)
    finally:
        fault.heal()
    window.healed = time.time()
    deadline = time.monotonic() + RECOVERY_TIMEOUT_S
    while time.monotonic() < deadline:
        window.recovery_s = pipeline.first_row_after(window.healed, fault.simulator)
        if not math.isnan(window.recovery_s):
            break
        time.sleep(0.5)
    time.sleep(TAIL_S)
    window.end = time.time()
    if fault.alert:
        observe_alert(cfg, window)
    seen = "" if not fault.alert else f", condition seen after {window.detected_s:.0f} s"
    print(f"[chaos]   recovered in {window.recovery_s:.1f} s; {fault.alert or '-'}: "
          f"{window.alert_state}{seen}", flush=True)  # fmt: skip
    return window


def drain(pipeline: ChaosPipeline, acked: set[tuple[str, int]]) -> set[tuple[str, int]]:
    """Wait until every acknowledged message is stored, or 60 s without progress."""
    stored, last, changed = pipeline.stored_keys(), -1, time.monotonic()
    while not acked <= stored and time.monotonic() - changed < 60:
        time.sleep(1.0)
        stored = pipeline.stored_keys()
        if len(stored) != last:
            last, changed = len(stored), time.monotonic()
    return stored


def results(
    windows: list[Window],
    publisher: SteadyPublisher,
    stored: set[tuple[str, int]],
    twice: set[tuple[str, int]],
    alerts: list[tuple[str, str]],
) -> list[report.FaultResult]:
    rows = []
    for w in windows:
        keys = publisher.acked_between(w.start, w.end)
        in_window = [e for e in alerts if w.start * 1000 <= _first_seen_ms(e[0]) < w.end * 1000]
        rows.append(
            report.FaultResult(
                fault=w.fault.name,
                published=len(keys),
                stored=sum(1 for k in keys if k in stored),
                lost=report.lost(keys, stored),
                stored_twice=sum(1 for k in keys if k in twice),
                alerts_repeated=report.repeated(in_window),
                recovery_s=w.recovery_s,
                alert=w.fault.alert,
                alert_state=w.alert_state if w.fault.alert else "n/a",
                detected_s=w.detected_s,
                alert_for_s=w.alert_for_s,
            )
        )
    return rows


def _first_seen_ms(alert_id: str) -> int:
    tail = alert_id.rsplit("|", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def choose(faults: list[Fault], wanted: str | None) -> list[Fault]:
    if not wanted:
        return faults
    ids = [w.strip() for w in wanted.split(",") if w.strip()]
    unknown = set(ids) - {f.id for f in faults}
    if unknown:
        raise SystemExit(f"unknown faults {sorted(unknown)}; known: {[f.id for f in faults]}")
    return [f for f in faults if f.id in ids]


def run(wanted: str | None = None, postgres_s: float = 30.0) -> list[report.FaultResult]:
    cfg = StackConfig.from_env()
    stack = StackControl(cfg)
    wait_healthy(stack, timeout=5)
    settings = load_settings(
        kafka_bootstrap_servers=cfg.kafka_bootstrap,
        schema_registry_url=cfg.registry_url,
        postgres_password=cfg.postgres_password,
        postgres_port=cfg.postgres_port,
    )
    workdir = Path(tempfile.mkdtemp(prefix="chaos-"))
    print(f"[chaos] service logs: {workdir}", flush=True)
    pipeline = ChaosPipeline(cfg, settings, workdir)
    faults = choose(service_faults(pipeline) + stack_faults(stack, postgres_s), wanted)
    started = time.monotonic()
    try:
        pipeline.start_all()
        publisher = SteadyPublisher(cfg.mqtt_port, pipeline.messages, RATE)
        publisher.start()
        time.sleep(8.0)  # the stream flows end to end before the first fault
        windows = [run_fault(pipeline, cfg, fault) for fault in faults]
        publisher.stop()
        acked = set(publisher.acked)
        stored = drain(pipeline, acked)
        alerts = pipeline.alert_events()
        rows = results(windows, publisher, stored, pipeline.stored_twice(), alerts)
    finally:
        pipeline.close()
        stack.up()  # whatever happened, every stack service runs and is healthy again
    elapsed = time.monotonic() - started
    write(rows, cfg, elapsed, len(alerts))
    return rows


def write(rows: list[report.FaultResult], cfg: StackConfig, elapsed: float, alerts: int) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    table = report.markdown(rows)
    print()
    print(table)
    healthy = all(proc.running_record(s.pidfile(cfg)) for s in StackControl(cfg).services.values())
    print(f"\n{len(rows)} faults in {elapsed:.0f} s at {RATE:g} messages/s; {alerts} alert events "
          f"on the run's alerts topic; stack healthy after the run: {healthy}")  # fmt: skip
    extra = {"rate_msgs_per_s": RATE, "elapsed_s": elapsed, "cpus": os.cpu_count(),
             "alert_events": alerts,
             "load_average_at_end": os.getloadavg(), "stack_healthy_after": healthy}  # fmt: skip
    (OUTPUT / "chaos.md").write_text(table + "\n")
    (OUTPUT / "chaos.json").write_text(report.to_json(rows, extra))
    print(f"wrote {OUTPUT / 'chaos.md'} and chaos.json")


def main(argv: list[str]) -> int:
    rows = run(os.environ.get("CHAOS_FAULTS") or (argv[0] if argv else None))
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
