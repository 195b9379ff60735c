"""docker/.env.example, docker-compose.yml and the settings model stay in step: every pipeline
setting is either forwarded to the services (and listed, commented out at its real default), set by
the compose file itself, or named as not applying to the compose deployment."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from iot_pipeline.config.settings import Settings
from tests.docker.conftest import COMPOSE_FILE, DOCKER_DIR, ENV_EXAMPLE, TEST_SECRETS

FIX = "run .venv/bin/python docker/tools/env_example.py and update x-settings in docker-compose.yml"
COMMENTED = re.compile(r"^#\s?([A-Z][A-Z0-9_]*)=(.*)$")
# Compose-level defaults that deliberately differ from the code's: containers log JSON lines.
DELIBERATE = {"LOG_FORMAT": "json"}


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    path = DOCKER_DIR / "tools" / "env_example.py"
    spec = importlib.util.spec_from_file_location("env_example", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def commented_settings(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = COMMENTED.match(line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def test_env_example_is_rendered_from_the_current_model(generator: ModuleType) -> None:
    assert ENV_EXAMPLE.read_text(encoding="utf-8") == generator.render(Settings.model_fields), FIX


def test_every_setting_is_forwarded_wired_or_excluded_for_a_reason(generator: ModuleType) -> None:
    names = {name.upper() for name in Settings.model_fields}
    stale = (set(generator.WIRING) | set(generator.NOT_FORWARDED)) - names
    assert not stale, f"docker/tools/env_example.py names settings that no longer exist: {stale}"
    assert not set(generator.WIRING) & set(generator.NOT_FORWARDED)
    forwarded = set(generator.forwarded_settings(Settings.model_fields))
    covered = forwarded | set(generator.WIRING) | set(generator.NOT_FORWARDED)
    assert covered == names


def test_python_services_receive_every_forwarded_setting_by_name(
    generator: ModuleType, services: dict[str, Any]
) -> None:
    forwarded = generator.forwarded_settings(Settings.model_fields)
    for name in ("kafka-producer", "ruuvitag-adapter", "kafka-consumer", "timescaledb-sink"):
        env = services[name]["environment"]
        missing = [setting for setting in forwarded if setting not in env]
        assert not missing, f"{name} does not receive {missing}: {FIX}"
        # With the scrubbed environment the tests use, none is set: the code defaults apply.
        assert all(env[setting] is None for setting in forwarded), name


def test_env_example_lists_every_forwarded_setting_at_its_default(generator: ModuleType) -> None:
    listed = commented_settings(ENV_EXAMPLE)
    forwarded = generator.forwarded_settings(Settings.model_fields)
    assert list(listed) == forwarded, FIX
    for name in forwarded:
        field = Settings.model_fields[name.lower()]
        assert listed[name] == generator.env_value(generator.default_of(field)), name


def test_listed_defaults_read_back_as_the_model_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Uncommenting a line unchanged must not change anything: each value parses to the default."""
    listed = {k: v for k, v in commented_settings(ENV_EXAMPLE).items() if v != ""}
    assert len(listed) >= 40
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("IOT_CONFIG_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    for name, value in listed.items():
        monkeypatch.setenv(name, value)
    from_env = Settings(_env_file=None)  # type: ignore[call-arg]
    for name in listed:
        monkeypatch.delenv(name)
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    for name in listed:
        assert getattr(from_env, name.lower()) == getattr(defaults, name.lower()), name


def test_compose_defaults_of_settings_match_the_model(generator: ModuleType) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    fields = Settings.model_fields
    checked = 0
    for name, default in re.findall(r"\$\{([A-Z][A-Z0-9_]*):-([^}]*)\}", text):
        if name.lower() not in fields:
            continue
        expected = DELIBERATE.get(name) or generator.env_value(
            generator.default_of(fields[name.lower()])
        )
        assert default == expected, f"${{{name}:-{default}}}: the model's default is {expected}"
        checked += 1
    assert checked >= 4


def test_env_example_lists_exactly_the_variables_compose_reads(
    env_example: dict[str, str],
) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    referenced = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", text))
    listed = set(env_example)
    assert referenced - listed == set(), "read by compose but missing from .env.example"
    assert listed - referenced - {"COMPOSE_PROFILES"} == set(), "listed but never used"
    for secret in TEST_SECRETS:
        assert env_example[secret] == "", f".env.example must not ship a value for {secret}"


def test_a_setting_in_the_env_file_reaches_the_services(
    compose: Any, env_file_factory: Any
) -> None:
    model = compose.model(env_file_factory(KAFKA_LINGER_MS="25", ALERTS_CLEAR_AFTER="4"))
    for name in ("kafka-producer", "kafka-consumer", "timescaledb-sink"):
        assert model["services"][name]["environment"]["KAFKA_LINGER_MS"] == "25"
    assert model["services"]["kafka-consumer"]["environment"]["ALERTS_CLEAR_AFTER"] == "4"
