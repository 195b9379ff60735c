"""Static checks of the Grafana provisioning and dashboards (the live ones run every query)."""

from __future__ import annotations

import pytest
import yaml

from tests.monitoring.grafana import (
    PROVISIONING,
    expand_promql,
    expand_sql,
    load_dashboards,
    metric_names,
    panels,
    provisioned_datasource_uids,
    queries,
    variable_queries,
)

EXPECTED = {
    "IoT pipeline overview",
    "Kafka health",
    "TimescaleDB",
    "Sensors",
    "Air quality",
}


def test_the_five_dashboards_exist_with_unique_uids() -> None:
    boards = load_dashboards()
    assert {b["title"] for b in boards.values()} == EXPECTED
    uids = [b["uid"] for b in boards.values()]
    assert len(set(uids)) == len(uids)


@pytest.mark.parametrize("name", sorted(load_dashboards()))
def test_panels_are_well_formed(name: str) -> None:
    board = load_dashboards()[name]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    datasources = provisioned_datasource_uids()
    for panel in panels(board):
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        assert panel["datasource"]["uid"] in datasources
        assert panel["datasource"]["type"] == datasources[panel["datasource"]["uid"]]
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))


@pytest.mark.parametrize("name", sorted(load_dashboards()))
def test_every_query_expands_without_unknown_macros(name: str) -> None:
    board = load_dashboards()[name]
    variables = {var: ["AA:BB:CC:DD:EE:FF"] for var, _uid, _q in variable_queries(board)}
    for query in queries(board):
        if query.datasource == "prometheus":
            expr = expand_promql(query.text)
            assert metric_names(expr), f"{query.name}: no metric in {expr!r}"
        else:
            assert "$" not in expand_sql(query.text, variables)


def test_macro_expansion() -> None:
    assert expand_promql("rate(x[$__rate_interval])") == "rate(x[1m])"
    sql = expand_sql(
        "SELECT time_bucket('$__interval', t) FROM r WHERE a IN ($tag) AND $__timeFilter(t)",
        {"tag": ["A", "B'C"]},
    )
    assert sql == (
        "SELECT time_bucket('1m', t) FROM r WHERE a IN ('A', 'B''C') "
        "AND t BETWEEN now() - interval '1h' AND now()"
    )
    with pytest.raises(ValueError, match="unexpanded"):
        expand_promql("rate(x[$__range])")
    with pytest.raises(ValueError, match="unexpanded"):
        expand_sql("SELECT $other", {})


def test_metric_names_of_an_expression() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, job) (rate(a_seconds_bucket{topic="x y"}[1m])))'
        " / sum(rate(b_total[1m])) or vector(0)"
    )
    assert metric_names(expr) == {"a_seconds_bucket", "b_total"}
    assert metric_names('up{job=~"iot-.*"}') == {"up"}


def test_provisioning_files() -> None:
    datasources = yaml.safe_load((PROVISIONING / "datasources" / "datasources.yml").read_text())
    assert {d["uid"] for d in datasources["datasources"]} == {"prometheus", "timescaledb"}
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "dashboards.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
