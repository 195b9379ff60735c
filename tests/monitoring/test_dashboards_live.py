"""With the pipeline running: every Prometheus target is up, and every query of every dashboard
panel returns data from the live Prometheus (PromQL) or the live TimescaleDB (SQL)."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest

from tests.monitoring.conftest import PROMETHEUS, http_json, prom_query, scrape_targets
from tests.monitoring.grafana import (
    Query,
    base_metric,
    expand_promql,
    expand_sql,
    load_dashboards,
    metric_names,
    queries,
    variable_queries,
)

pytestmark = pytest.mark.e2e

ALL_QUERIES = [q for board in load_dashboards().values() for q in queries(board)]

# The Air quality dashboard's panels need Ruuvi Air records (co2, pm*, voc/nox, illuminance) and
# derived ones: `devstack run`'s ruuvi simulator has Ruuvi Air tags (E1, 6, 6+E1) and Format 3
# beside Format 5, and the adapter publishes derived values by default.
AIR_QUALITY = "Air quality"


def wait_for(check: Callable[[], Any], what: str, timeout_s: float = 240) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(3)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


@pytest.fixture(scope="module")
def flowing(pipeline: None) -> None:
    """Every target up, and enough scrapes of a flowing pipeline for rate() over 1m."""

    def down() -> list[str]:
        return [
            f"{t['labels']['job']} {t['scrapeUrl']}: {t['lastError']}"
            for t in scrape_targets()
            if t["health"] != "up"
        ]

    wait_for(lambda: not down() or None, "every target up (down: see assertion)", 300)
    assert not down(), down()
    # Readings stored and RuuviTag records flowing for a minute (rates over [1m] need 2 scrapes).
    wait_for(
        lambda: prom_query("sum(rate(iot_messages_processed_total[1m])) > 0"), "stored readings"
    )
    wait_for(
        lambda: prom_query("sum(rate(mqtt_adapter_records_published_total[1m])) > 0"),
        "RuuviTag records from the adapter",
    )
    wait_for(lambda: prom_query("count(iot_device_last_seen_age_seconds) > 0"), "device freshness")
    time.sleep(30)


def test_every_scrape_target_is_up(flowing: None) -> None:
    targets = scrape_targets()
    jobs = {t["labels"]["job"] for t in targets}
    expected = {
        "prometheus", "alertmanager", "kafka", "kafka-lag", "schema-registry", "mosquitto",
        "postgres", "node", "iot-simulator", "iot-alert-consumer", "iot-ruuvitag-adapter",
        "iot-timescaledb-sink", "iot-lake-archiver",
    }  # fmt: skip
    assert expected <= jobs
    assert [t["scrapeUrl"] for t in targets if t["health"] != "up"] == []


def _known_metric(name: str) -> bool:
    """True if some target exposes the metric (its HELP/TYPE), even with no sample yet."""
    for candidate in {name, base_metric(name), name.removesuffix("_total")}:
        url = f"{PROMETHEUS}/api/v1/targets/metadata?" + urllib.parse.urlencode(
            {"metric": candidate}
        )
        if http_json(url)["data"]:
            return True
    return bool(prom_query(f"count({name})"))


@pytest.mark.parametrize(
    "query", [q for q in ALL_QUERIES if q.datasource == "prometheus"], ids=lambda q: q.name
)
def test_promql_panel_returns_data(flowing: None, query: Query) -> None:
    expr = expand_promql(query.text)
    unknown = sorted(n for n in metric_names(expr) if not _known_metric(n))
    assert unknown == [], f"no target exposes {unknown}"
    result = prom_query(expr)
    assert result, f"{query.name}: no data for {expr}"


@pytest.fixture(scope="module")
def sql(flowing: None, postgres_dsn: str) -> Callable[[str], list[tuple[Any, ...]]]:
    import psycopg2

    conn = psycopg2.connect(postgres_dsn)
    conn.autocommit = True

    def run(text: str) -> list[tuple[Any, ...]]:
        with conn.cursor() as cur:
            cur.execute(text)
            return list(cur.fetchall())

    yield run
    conn.close()


@pytest.fixture(scope="module")
def variables(sql: Callable[[str], list[tuple[Any, ...]]]) -> dict[str, list[str]]:
    """Each dashboard variable's values, from its own query (as Grafana's 'All' would use)."""
    values: dict[str, list[str]] = {}
    for board in load_dashboards().values():
        for name, _uid, text in variable_queries(board):
            rows = sql(expand_sql(text, {}))
            assert rows, f"variable {name} has no values"
            values[name] = [str(r[0]) for r in rows]
    return values


@pytest.mark.parametrize(
    "query",
    [q for q in ALL_QUERIES if q.datasource == "timescaledb"],
    ids=lambda q: q.name,
)
def test_sql_panel_returns_data(
    sql: Callable[[str], list[tuple[Any, ...]]], variables: dict[str, list[str]], query: Query
) -> None:
    rows = sql(expand_sql(query.text, variables))
    assert rows, f"{query.name}: no rows"
    if query.fmt == "time_series":
        assert all(row[0] is not None and row[-1] is not None for row in rows), rows[:3]


@pytest.mark.parametrize(
    "query",
    [q for q in ALL_QUERIES if q.dashboard == AIR_QUALITY],
    ids=lambda q: q.name,
)
def test_air_quality_sql_runs(postgres_dsn: str, query: Query) -> None:
    """The Air quality panels' SQL runs on the live schema (columns, JSONB, functions exist)."""
    import psycopg2

    with psycopg2.connect(postgres_dsn) as conn, conn.cursor() as cur:
        cur.execute(expand_sql(query.text, {"tag": ["AA:BB:CC:DD:EE:FF"]}))
        assert cur.description is not None
        if query.fmt == "time_series":
            assert [c.name for c in cur.description][:1] == ["time"]


def _rules() -> list[dict[str, Any]]:
    import yaml

    from tests.monitoring.conftest import RULES

    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


@pytest.mark.parametrize("rule", _rules(), ids=lambda r: r["alert"])
def test_alert_rule_reads_only_exposed_metrics(flowing: None, rule: dict[str, Any]) -> None:
    """A misspelt metric in a rule would never fire: every name must be exposed by a target."""
    names = metric_names(rule["expr"])
    assert names, rule["expr"]
    unknown = sorted(n for n in names if not _known_metric(n))
    assert unknown == [], f"{rule['alert']}: no target exposes {unknown}"
    result = prom_query(rule["expr"].replace("\n", " "))
    assert isinstance(result, list)  # the expression evaluates on the live server
