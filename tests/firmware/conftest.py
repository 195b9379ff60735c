"""Fixtures for the firmware host tools (built from esp32/ruuvitag_gateway/host)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
HOST_BUILD = REPO / "esp32" / "ruuvitag_gateway" / "host" / "build"
VECTORS = REPO / "tests" / "vectors"


@dataclass(frozen=True)
class FirmwareTools:
    ruuvi_decode: Path
    emulator: Path


@pytest.fixture(scope="session")
def firmware_tools() -> FirmwareTools:
    """Builds (or confirms up to date) the host tools with `make firmware-host-build`."""
    result = subprocess.run(
        ["make", "--no-print-directory", "firmware-host-build"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        pytest.fail(
            "make firmware-host-build failed:\n" + result.stdout[-4000:] + result.stderr[-4000:],
            pytrace=False,
        )
    return FirmwareTools(HOST_BUILD / "ruuvi-decode", HOST_BUILD / "ruuvi-gateway-emulator")


@pytest.fixture(scope="session")
def format5_vectors() -> dict[str, Any]:
    return json.loads((VECTORS / "ruuvi_format5.json").read_text())


@pytest.fixture(scope="session")
def other_vectors() -> dict[str, Any]:
    return json.loads((VECTORS / "ruuvi_other_formats.json").read_text())


@pytest.fixture(scope="session")
def gateway_example() -> dict[str, Any]:
    return json.loads((VECTORS / "esp32_gateway_message.json").read_text())
