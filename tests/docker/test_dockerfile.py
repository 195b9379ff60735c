"""The Dockerfile builds from files that exist and that the build context lets through."""

from __future__ import annotations

import re
import shlex

import pytest

from iot_pipeline.config.settings import Settings
from tests.docker.conftest import DOCKERFILE, REPO
from tests.docker.helpers import (
    Dockerfile,
    context_files,
    copy_sources,
    is_ignored,
    parse_dockerfile,
    parse_dockerignore,
)

PYTHON_TARGETS = {
    "producer": ("run_producer.py", "simulator_metrics_port"),
    "ruuvitag-adapter": ("run_ruuvitag_adapter.py", "adapter_metrics_port"),
    "consumer": ("run_consumer.py", "alerts_metrics_port"),
    "timescaledb-sink": ("run_timescaledb_sink.py", "sink_metrics_port"),
    "lake-archiver": ("run_lake_archiver.py", "lake_metrics_port"),
}


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def ignore_rules() -> list:
    return parse_dockerignore((REPO / ".dockerignore").read_text(encoding="utf-8"))


def test_every_copy_source_exists_and_is_in_the_build_context(
    dockerfile: Dockerfile, ignore_rules: list
) -> None:
    checked = 0
    for stage in dockerfile.stages:
        for instruction in stage.instructions:
            if instruction.keyword not in ("COPY", "ADD"):
                continue
            sources = copy_sources(instruction)
            if sources is None:
                continue
            for source in sources:
                assert "://" not in source, f"line {instruction.line}: ADD from the network"
                path = REPO / source
                assert path.exists(), f"Dockerfile line {instruction.line}: {source} is missing"
                files = context_files(REPO, source)
                assert files, f"Dockerfile line {instruction.line}: {source} is empty"
                left_out = [f for f in files if is_ignored(f, ignore_rules)]
                assert not left_out, (
                    f"Dockerfile line {instruction.line}: .dockerignore leaves out {left_out[:5]}"
                )
                checked += 1
    assert checked >= 8


def test_copy_from_names_an_earlier_stage(dockerfile: Dockerfile) -> None:
    seen: set[str] = set()
    for stage in dockerfile.stages:
        for instruction in stage.instructions:
            for word in shlex.split(instruction.args):
                if instruction.keyword == "COPY" and word.startswith("--from="):
                    assert word.split("=", 1)[1] in seen, f"line {instruction.line}"
        if stage.name:
            seen.add(stage.name)


def test_dockerignore_keeps_secrets_and_local_state_out(ignore_rules: list) -> None:
    for path in (
        ".env",
        "docker/.env",
        ".venv/bin/python",
        ".git/config",
        "src/iot_pipeline/__pycache__/x.pyc",
        "tests/unit/config/test_settings.py",
        "esp32/ruuvitag_gateway/main/main.c",
    ):
        assert is_ignored(path, ignore_rules), path
    for path in ("requirements.txt", "pyproject.toml", "src/iot_pipeline/__init__.py"):
        assert not is_ignored(path, ignore_rules), path


@pytest.mark.parametrize("target", sorted(PYTHON_TARGETS))
def test_python_target_runs_its_service_as_non_root_with_a_healthcheck(
    dockerfile: Dockerfile, target: str
) -> None:
    script, port_field = PYTHON_TARGETS[target]
    lineage = dockerfile.lineage(target)
    instructions = [i for stage in reversed(lineage) for i in stage.instructions]
    users = [i.args for i in instructions if i.keyword == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0"), f"{target} runs as root"
    assert dockerfile.resolve(lineage[-1].base).startswith("python:3.11"), target
    assert "slim" in dockerfile.resolve(lineage[-1].base), target
    own = lineage[0].instructions
    healthchecks = [i.args for i in own if i.keyword == "HEALTHCHECK"]
    assert len(healthchecks) == 1 and port_field in healthchecks[0], target
    cmd = [i.args for i in own if i.keyword == "CMD"]
    assert cmd == [f'["python", "{script}"]'], target
    assert (REPO / script).is_file(), f"{script} is missing"


def test_python_images_set_only_interpreter_variables_and_settings(dockerfile: Dockerfile) -> None:
    fields = {name.upper() for name in Settings.model_fields}
    names = set()
    for target in [*PYTHON_TARGETS, "exporters", "python-build"]:
        for stage in dockerfile.lineage(target):
            for instruction in stage.instructions:
                if instruction.keyword == "ENV":
                    names.update(re.findall(r"(?:^|\s)([A-Z_][A-Z0-9_]*)=", instruction.args))
    assert "POSTGRES_MIGRATIONS_DIR" in names
    for name in names:
        assert name in fields or name == "PATH" or name.startswith(("PYTHON", "PIP_")), name


def test_exporters_target_is_non_root(dockerfile: Dockerfile) -> None:
    lineage = dockerfile.lineage("exporters")
    users = [
        i.args for stage in reversed(lineage) for i in stage.instructions if i.keyword == "USER"
    ]
    assert users and users[-1] not in ("root", "0", "0:0")


def test_python_layers_are_cache_friendly(dockerfile: Dockerfile) -> None:
    """Pinned requirements are installed before the package source is copied in."""
    build = dockerfile.stage("python-build")
    order = [(i.keyword, i.args) for i in build.instructions]
    requirements = next(n for n, (k, a) in enumerate(order) if k == "COPY" and "requirements" in a)
    install = next(n for n, (k, a) in enumerate(order) if k == "RUN" and "-r " in a)
    source = next(n for n, (k, a) in enumerate(order) if k == "COPY" and a.startswith("src "))
    assert requirements < install < source


def test_kafka_image_gets_the_jmx_agent_the_native_stack_pins(dockerfile: Dockerfile) -> None:
    agent = dockerfile.stage("jmx-agent")
    runs = " ".join(i.args for i in agent.instructions if i.keyword == "RUN")
    assert "dependency:copy@jmx-agent" in runs
    copies = [i.args for i in agent.instructions if i.keyword == "COPY"]
    assert copies == ["devstack/pom.xml /build/pom.xml"]


def test_kafka_broker_starts_through_the_agent_entrypoint(dockerfile: Dockerfile) -> None:
    own = dockerfile.stage("kafka-broker").instructions
    entrypoints = [i.args for i in own if i.keyword == "ENTRYPOINT"]
    assert entrypoints == ['["/opt/jmx-exporter/run-with-jmx-agent.sh"]']
    copies = [i.args for i in own if i.keyword == "COPY"]
    assert any(
        c.endswith("docker/kafka/run-with-jmx-agent.sh /opt/jmx-exporter/run-with-jmx-agent.sh")
        for c in copies
    )
    assert [i.args for i in own if i.keyword == "CMD"] == ["[]"]
