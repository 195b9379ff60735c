"""Fixtures for the broker's security tests: the adapter's (tests/e2e/adapter), the host tools'
build (tests/firmware), and a gateway identity made with ``python -m devstack add-gateway``."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from devstack.config import REPO_ROOT, StackConfig
from tests.e2e.adapter.conftest import adapter_env, start_adapter  # noqa: F401
from tests.firmware.conftest import firmware_tools  # noqa: F401


@dataclass(frozen=True)
class GatewayLogin:
    name: str
    password: str
    output: str


def _devstack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def make_gateway(stack: StackConfig) -> Iterator[object]:
    """Adds gateway identities to the running broker (``add-gateway``) and revokes them after."""
    made: list[str] = []

    def make() -> GatewayLogin:
        name = f"e2e-gw-{uuid.uuid4().hex[:10]}"
        result = _devstack("add-gateway", name)
        assert result.returncode == 0, result.stdout + result.stderr
        made.append(name)
        return GatewayLogin(name, StackConfig.from_env().mqtt_password(name), result.stdout)

    yield make
    for name in made:
        _devstack("remove-gateway", name)
