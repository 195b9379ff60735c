"""Reading Grafana dashboards the way Grafana would run them, for the tests: every query of every
panel (and of every template variable), with Grafana's macros expanded to fixed values."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.monitoring.conftest import MONITORING

DASHBOARDS = MONITORING / "grafana" / "dashboards"
PROVISIONING = MONITORING / "grafana" / "provisioning"
RANGE = "1h"  # the dashboards' default time range (now-1h .. now)
INTERVAL = "1m"  # what $__interval / $__rate_interval become at a 15 s scrape interval
UNKNOWN_MACRO = re.compile(r"\$\{?_*[A-Za-z]\w*")


@dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    ref: str
    datasource: str  # datasource uid
    text: str  # PromQL or SQL as written in the dashboard
    fmt: str = "time_series"

    @property
    def name(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref}"


def load_dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def queries(dashboard: dict[str, Any]) -> Iterator[Query]:
    for panel in panels(dashboard):
        for target in panel["targets"]:
            uid = (target.get("datasource") or panel["datasource"])["uid"]
            text = target.get("expr") if "expr" in target else target.get("rawSql")
            yield Query(
                dashboard["title"],
                panel["title"],
                target["refId"],
                uid,
                text or "",
                target.get("format", "time_series"),
            )


def variable_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(name, datasource uid, query) of each query variable."""
    for var in dashboard.get("templating", {}).get("list", []):
        if var["type"] == "query":
            yield var["name"], var["datasource"]["uid"], var["query"]


def expand_promql(expr: str) -> str:
    out = expr.replace("$__rate_interval", INTERVAL).replace("$__interval", INTERVAL)
    leftover = UNKNOWN_MACRO.search(out)
    if leftover:
        raise ValueError(f"unexpanded Grafana macro {leftover.group(0)!r} in {expr!r}")
    return out


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def expand_sql(sql: str, variables: dict[str, list[str]]) -> str:
    """Grafana's PostgreSQL macros for the last hour, and multi-value variables as quoted lists."""
    out = re.sub(
        r"\$__timeFilter\(([^)]+)\)",
        lambda m: f"{m.group(1)} BETWEEN now() - interval '{RANGE}' AND now()",
        sql,
    )
    out = out.replace("$__interval", INTERVAL)
    for name, values in variables.items():
        out = re.sub(rf"\${name}\b", ", ".join(sql_literal(v) for v in values), out)
    leftover = UNKNOWN_MACRO.search(out)
    if leftover:
        raise ValueError(f"unexpanded Grafana macro {leftover.group(0)!r} in {sql!r}")
    return out


def provisioned_datasource_uids() -> dict[str, str]:
    import yaml

    config = yaml.safe_load((PROVISIONING / "datasources" / "datasources.yml").read_text())
    return {ds["uid"]: ds["type"] for ds in config["datasources"]}


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression reads (identifiers before a selector or range)."""
    functions = {
        "sum", "rate", "max", "min", "avg", "count", "histogram_quantile", "by", "without",
        "or", "and", "unless", "vector", "increase", "irate", "delta", "abs", "on", "ignoring",
    }  # fmt: skip
    without_strings = re.sub(r'"[^"]*"', '""', expr)
    without_labels = re.sub(r"\{[^}]*\}", "{}", without_strings)
    names = set(
        re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?=\{|\[|\)|$|\s|==|<|>)", without_labels)
    )
    grouping = set(re.findall(r"(?:by|without|on|ignoring)\s*\(([^)]*)\)", without_labels))
    labels = {name.strip() for group in grouping for name in group.split(",")}
    return {n for n in names if n not in functions and n not in labels and not n.isdigit()}


def base_metric(name: str) -> str:
    """The metric family a series name belongs to (histogram/summary suffixes removed)."""
    return re.sub(r"_(bucket|sum|count)$", "", name)


def dashboard_path(name: str) -> Path:
    return DASHBOARDS / name
