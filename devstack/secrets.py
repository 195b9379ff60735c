"""The native stack's secrets: random passwords generated into the state directory on first use.

Nothing secret is written in the repository. ``load_or_create`` returns the same values every time
for one state directory (``<state>/secrets/stack-secrets.json``, mode 0600), so ``make up``,
``make run``, ``make bench`` and the tests all read the passwords the running stack was given.
Standard library only (``python -m devstack down`` runs without the virtual environment).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path

# Every password the native stack needs; a new name gets a value the next time the file is read.
SECRET_NAMES = (
    "postgres_password",
    "registry_db_password",
    "postgres_iot_sink_password",
    "postgres_iot_readonly_password",
    "postgres_iot_monitoring_password",
    "mqtt_ruuvitag-adapter_password",
    "mqtt_simulator_password",
    "mqtt_mosquitto-exporter_password",
    "mqtt_pipeline-tests_password",
    # Kafka SCRAM principals (devstack.kafka_auth.PRINCIPALS).
    "kafka_iot-simulator_password",
    "kafka_iot-adapter_password",
    "kafka_iot-sink_password",
    "kafka_iot-alerts_password",
    "kafka_iot-lake_password",
    "kafka_iot-lag-exporter_password",
    "kafka_iot-admin_password",
)


def secrets_dir(state_dir: Path) -> Path:
    return state_dir / "secrets"


def secrets_file(state_dir: Path) -> Path:
    return secrets_dir(state_dir) / "stack-secrets.json"


def new_password() -> str:
    """32 URL-safe characters (192 random bits): safe in URLs, env files and mosquitto_passwd."""
    return secrets.token_urlsafe(24)


def complete(existing: dict[str, str], names: tuple[str, ...] = SECRET_NAMES) -> dict[str, str]:
    """``existing`` plus a fresh password for each missing name (existing values are kept)."""
    return {**{name: new_password() for name in names if not existing.get(name)}, **existing}


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only, atomically (rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def load(state_dir: Path) -> dict[str, str]:
    """The passwords saved so far ({} before the first ``make up``); never writes."""
    try:
        values: dict[str, str] = json.loads(secrets_file(state_dir).read_text())
    except (FileNotFoundError, PermissionError):
        return {}
    return values


def load_or_create(state_dir: Path) -> dict[str, str]:
    """The stack's passwords, generating (and saving) any that do not exist yet."""
    path = secrets_file(state_dir)
    existing: dict[str, str] = {}
    with contextlib.suppress(FileNotFoundError):
        existing = json.loads(path.read_text())
    values = complete(existing)
    if values != existing:
        write_private(path, json.dumps(values, indent=2, sort_keys=True) + "\n")
    return values


def mqtt_password(values: dict[str, str], user: str) -> str:
    return values[f"mqtt_{user}_password"]


def kafka_password(values: dict[str, str], principal: str) -> str:
    return values[f"kafka_{principal}_password"]


def rotate(state_dir: Path, name: str) -> dict[str, str]:
    """A new password for ``name`` (one of SECRET_NAMES), saved; returns every password."""
    if name not in SECRET_NAMES:
        raise KeyError(name)
    values = {**load_or_create(state_dir), name: new_password()}
    write_private(secrets_file(state_dir), json.dumps(values, indent=2, sort_keys=True) + "\n")
    return values
