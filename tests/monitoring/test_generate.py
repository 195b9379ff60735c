"""monitoring/targets.yml is the single source of scrape targets: the committed Prometheus and
Alertmanager files must be exactly what monitoring/generate.py renders from it."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
import yaml


def test_committed_files_equal_the_generator_output(generate: ModuleType) -> None:
    files = generate.rendered_files(generate.load_spec(), generate.ALERTMANAGER_BASE.read_text())
    assert len(files) == 4
    for path, text in files.items():
        assert path.exists(), f"{path} is missing: run python monitoring/generate.py"
        assert path.read_text() == text, f"{path} is stale: run python monitoring/generate.py"


def test_check_mode_reports_up_to_date(generate: ModuleType) -> None:
    assert generate.main(["--check"]) == 0


def _jobs(config: dict[str, Any]) -> dict[str, list[str]]:
    return {
        job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
        for job in config["scrape_configs"]
    }


def test_native_scrapes_loopback_and_compose_scrapes_service_names(generate: ModuleType) -> None:
    spec = generate.load_spec()
    native = _jobs(generate.render_config(spec, "native"))
    compose = _jobs(generate.render_config(spec, "compose"))
    assert all(t.startswith("127.0.0.1:") for targets in native.values() for t in targets)
    assert not any(t.startswith("127.") for targets in compose.values() for t in targets)
    # Every service metrics port of the pipeline, every broker, the exporters, the registry and
    # Prometheus itself are scraped natively; cAdvisor exists only with compose.
    assert native["iot-simulator"] == ["127.0.0.1:8000", "127.0.0.1:8004"]
    assert native["iot-alert-consumer"] == ["127.0.0.1:8001"]
    assert native["iot-ruuvitag-adapter"] == ["127.0.0.1:8002"]
    assert native["iot-timescaledb-sink"] == ["127.0.0.1:8003"]
    assert native["kafka"] == ["127.0.0.1:7071", "127.0.0.1:7072", "127.0.0.1:7073"]
    for job in ("prometheus", "alertmanager", "schema-registry", "postgres", "mosquitto", "node"):
        assert job in native and job in compose
    assert "cadvisor" not in native and compose["cadvisor"] == ["cadvisor:8080"]
    assert compose["kafka"] == ["kafka-broker-1:7071", "kafka-broker-2:7071", "kafka-broker-3:7071"]


def test_broker_label_and_alertmanager_address(generate: ModuleType) -> None:
    config = generate.render_config(generate.load_spec(), "compose")
    kafka = next(j for j in config["scrape_configs"] if j["job_name"] == "kafka")
    assert [sc["labels"]["broker"] for sc in kafka["static_configs"]] == [
        "kafka-1",
        "kafka-2",
        "kafka-3",
    ]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093"
    ]
    assert config["global"]["external_labels"] == {"deployment": "compose"}


def _spec(jobs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "scrape_interval": "15s",
        "scrape_timeout": "10s",
        "evaluation_interval": "15s",
        "alertmanager": {"native": "127.0.0.1:9095", "compose": "alertmanager:9093"},
        "smtp_smarthost": {"native": "127.0.0.1:1025", "compose": "mailpit:1025"},
        "jobs": jobs,
    }


def test_a_job_without_targets_in_a_deployment_is_left_out(generate: ModuleType) -> None:
    spec = _spec(
        [
            {"job": "a", "targets": [{"native": "127.0.0.1:1"}]},
            {"job": "b", "metrics_path": "/q/metrics", "targets": [{"compose": "b:2"}]},
        ]
    )
    assert _jobs(generate.render_config(spec, "native")) == {"a": ["127.0.0.1:1"]}
    compose = generate.render_config(spec, "compose")
    assert _jobs(compose) == {"b": ["b:2"]}
    assert compose["scrape_configs"][0]["metrics_path"] == "/q/metrics"


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        (
            [{"job": "a", "targets": [{"native": "x:1"}]}, {"job": "a", "targets": []}],
            "listed twice",
        ),
        ([{"job": "a", "targets": [{"natve": "x:1"}]}], "unknown target keys"),
    ],
)
def test_mistakes_in_the_source_are_rejected(
    generate: ModuleType, jobs: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(generate.TargetsError, match=message):
        generate.render_config(_spec(jobs), "native")


def test_unknown_deployment_is_rejected(generate: ModuleType) -> None:
    with pytest.raises(generate.TargetsError, match="unknown deployment"):
        generate.render_config(_spec([]), "kubernetes")


def test_alertmanager_gets_each_deployments_smtp_server(generate: ModuleType) -> None:
    base = generate.ALERTMANAGER_BASE.read_text()
    native = yaml.safe_load(generate.render_alertmanager(_spec([]), base, "native"))
    compose = yaml.safe_load(generate.render_alertmanager(_spec([]), base, "compose"))
    assert native["global"]["smtp_smarthost"] == "127.0.0.1:1025"
    assert compose["global"]["smtp_smarthost"] == "mailpit:1025"
    assert native["route"] == compose["route"]
    with pytest.raises(generate.TargetsError, match="once"):
        generate.render_alertmanager(_spec([]), "global: {}\n", "native")
