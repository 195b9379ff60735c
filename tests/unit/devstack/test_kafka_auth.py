"""The Kafka principals' ACLs (devstack.kafka_auth): least privilege, as pure data."""

from __future__ import annotations

from devstack.kafka_auth import (
    ADAPTER,
    ADMIN,
    ALERTS,
    LAG_EXPORTER,
    LAKE,
    PRINCIPALS,
    SIMULATOR,
    SINK,
    TEST_PREFIXES,
    Acl,
    Names,
    acl_table,
    acls,
)


def allowed(rules: list[Acl], principal: str, resource: str, name: str) -> set[str]:
    """What ``principal`` may do on the resource ``name``, as the broker would match it."""
    ops: set[str] = set()
    for rule in rules:
        if rule.principal != f"User:{principal}" or rule.resource != resource:
            continue
        literal = rule.pattern == "literal" and rule.name in (name, "*")
        prefixed = rule.pattern == "prefixed" and name.startswith(rule.name)
        if literal or prefixed:
            ops.add(rule.operation)
    return ops


RULES = acls()
N = Names()


def test_every_principal_has_rules() -> None:
    assert {r.principal for r in RULES} == {f"User:{p}" for p in PRINCIPALS}


def test_producers_write_readings_and_dead_letters_and_read_nothing() -> None:
    for principal in (SIMULATOR, ADAPTER):
        assert {"WRITE", "DESCRIBE", "CREATE"} <= allowed(RULES, principal, "topic", N.readings)
        assert "WRITE" in allowed(RULES, principal, "topic", N.dead_letters)
        assert "WRITE" not in allowed(RULES, principal, "topic", N.alerts)
        assert not any(r.operation == "READ" for r in RULES if r.principal.endswith(principal))
        assert allowed(RULES, principal, "group", N.sink_group) == set()


def test_sink_reads_its_group_and_writes_only_dead_letters() -> None:
    assert allowed(RULES, SINK, "topic", N.readings) == {"READ", "DESCRIBE"}
    assert allowed(RULES, SINK, "group", N.sink_group) == {"READ", "DESCRIBE"}
    assert allowed(RULES, SINK, "group", N.lake_group) == set()
    assert allowed(RULES, SINK, "topic", N.dead_letters) == {"WRITE", "DESCRIBE"}
    assert allowed(RULES, SINK, "topic", N.alerts) == set()
    assert allowed(RULES, SINK, "cluster", "kafka-cluster") == set()


def test_alert_consumer_writes_alerts_and_reads_its_log_group() -> None:
    assert "WRITE" not in allowed(RULES, ALERTS, "topic", N.readings)
    assert {"WRITE", "READ"} <= allowed(RULES, ALERTS, "topic", N.alerts)
    assert "READ" in allowed(RULES, ALERTS, "group", f"{N.alerts_group}-alert-log")
    assert "WRITE" in allowed(RULES, ALERTS, "topic", N.dead_letters)


def test_lake_reads_and_writes_dead_letters_only() -> None:
    assert allowed(RULES, LAKE, "topic", N.readings) == {"READ", "DESCRIBE"}
    assert allowed(RULES, LAKE, "group", N.lake_group) == {"READ", "DESCRIBE"}
    assert "WRITE" not in allowed(RULES, LAKE, "topic", N.alerts)


def test_lag_exporter_only_describes() -> None:
    ops = {r.operation for r in RULES if r.principal == f"User:{LAG_EXPORTER}"}
    assert ops == {"DESCRIBE"}
    assert allowed(RULES, LAG_EXPORTER, "group", "any-group") == {"DESCRIBE"}


def test_admin_may_do_everything() -> None:
    assert allowed(RULES, ADMIN, "cluster", "kafka-cluster") == {"ALL"}
    assert allowed(RULES, ADMIN, "topic", "whatever") == {"ALL"}


def test_no_rule_without_test_prefixes_matches_a_test_name() -> None:
    for principal in (SIMULATOR, ADAPTER, SINK, ALERTS, LAKE):
        assert allowed(RULES, principal, "topic", "test-abc") == set()


def test_test_prefixes_give_each_service_its_own_operations_on_test_names() -> None:
    rules = acls(Names(), TEST_PREFIXES)
    assert set(RULES) < set(rules)
    assert allowed(rules, SINK, "topic", "e2e-fw-readings-1") == {"READ", "DESCRIBE", "WRITE"}
    assert allowed(rules, SINK, "group", "e2e-fw-sink-1") == {"READ", "DESCRIBE"}
    assert "READ" not in allowed(rules, ADAPTER, "topic", "test-adapter-x")
    assert "CREATE" in allowed(rules, ADAPTER, "topic", "test-adapter-x")
    # Still nothing more on the real topics.
    assert "WRITE" not in allowed(rules, SINK, "topic", N.readings)
    assert allowed(rules, LAG_EXPORTER, "topic", "test-x") == {"DESCRIBE"}


def test_rules_are_sorted_and_unique() -> None:
    rules = acls(Names(), TEST_PREFIXES)
    assert rules == sorted(set(rules))


def test_table_has_a_row_per_grant() -> None:
    rows = acl_table()
    assert any(row.startswith(f"| `{SINK}` | topic `{N.readings}` |") for row in rows)
    assert all(row.count("|") == 4 for row in rows)


def test_the_readme_table_is_the_rules() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    for row in acl_table():
        assert row in readme, f"README's Kafka ACL table lacks: {row}"
