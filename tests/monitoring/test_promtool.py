"""The Prometheus and Alertmanager files pass their own tools' checks, and every alert rule is
covered by a `promtool test rules` unit test that passes (and fails when the rule changes)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from bench.storage import markdown_section
from tests.monitoring.conftest import MONITORING, RULE_TESTS, RULES, copy_tree


def run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize("name", ["prometheus.yml", "prometheus.compose.yml"])
def test_promtool_check_config(promtool: str, name: str) -> None:
    result = run(promtool, "check", "config", str(MONITORING / "prometheus" / name))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_check_rules(promtool: str) -> None:
    result = run(promtool, "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"SUCCESS: \d+ rules found", result.stdout + result.stderr)


def test_promtool_rule_unit_tests_pass(promtool: str) -> None:
    result = run(promtool, "test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def _alert_names(path: Path) -> set[str]:
    groups = yaml.safe_load(path.read_text())["groups"]
    return {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}


def test_every_rule_has_a_unit_test_that_expects_it_to_fire() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    firing = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if case.get("exp_alerts")
    }
    assert _alert_names(RULES) == firing


def test_every_rule_has_labels_and_a_runbook() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    for rule in (r for g in groups for r in g["rules"]):
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["labels"]["component"], rule["alert"]
        assert set(rule["annotations"]) == {"summary", "description", "runbook"}, rule["alert"]
        assert rule["annotations"]["runbook"] == f"README.md#{rule['alert'].lower()}"


def test_a_changed_rule_fails_its_unit_test(promtool: str, tmp_path: Path) -> None:
    """The unit tests can fail: a broker-down rule that waits 3 minutes instead of 1 breaks them."""
    copy = copy_tree(tmp_path)
    rules = copy / "rules" / "alert_rules.yml"
    text = rules.read_text()
    changed = text.replace(
        'up{job="kafka"} == 0\n        for: 1m', 'up{job="kafka"} == 0\n        for: 3m'
    )
    assert changed != text
    rules.write_text(changed)
    result = run(promtool, "test", "rules", str(copy / "tests" / "alert_rules_test.yml"))
    assert result.returncode != 0
    assert "KafkaBrokerDown" in result.stdout + result.stderr


@pytest.mark.parametrize("name", ["alertmanager.yml", "alertmanager.compose.yml"])
def test_amtool_check_config(amtool: str, name: str) -> None:
    result = run(amtool, "check-config", str(MONITORING / "alertmanager" / name))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_inhibited_alerts_exist_in_the_rules() -> None:
    """Every alert an inhibition rule names is a real rule (a typo would silence nothing)."""
    config = yaml.safe_load((MONITORING / "alertmanager" / "alertmanager.yml").read_text())
    names = _alert_names(RULES)
    mentioned: set[str] = set()
    for rule in config["inhibit_rules"]:
        for matcher in [*rule["source_matchers"], *rule["target_matchers"]]:
            m = re.fullmatch(r'alertname=~?"([^"]+)"', matcher)
            if m:
                mentioned.update(m.group(1).split("|"))
    assert mentioned, "no alertname matchers found"
    assert mentioned <= names, sorted(mentioned - names)
    assert "KafkaBrokerDown" in mentioned


def test_routes_send_every_severity_to_the_email_receiver(amtool: str) -> None:
    config = str(MONITORING / "alertmanager" / "alertmanager.yml")
    for severity in ("critical", "warning"):
        result = run(
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={config}",
            "alertname=KafkaBrokerDown",
            f"severity={severity}",
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip() == "email-oncall"


def test_every_alert_is_explained_in_the_docs() -> None:
    """The README's Monitoring section has a heading (the runbook anchor) for every alert rule."""
    docs = markdown_section((MONITORING.parent / "README.md").read_text(), "Monitoring")
    headings = {line[5:].strip() for line in docs.splitlines() if line.startswith("#### ")}
    assert _alert_names(RULES) <= headings, sorted(_alert_names(RULES) - headings)
