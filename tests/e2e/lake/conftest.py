"""End-to-end fixtures for the lake archiver: the sink's unique topic + schema (the archive is
compared with TimescaleDB's rows), a lake folder per test, and the archiver as a real process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.lake.harness import ArchiverProcess
from tests.e2e.processes import started_processes
from tests.e2e.sink.conftest import sink_env, start_sink  # noqa: F401  (the same fixtures)


@pytest.fixture
def start_archiver(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], ArchiverProcess]]:
    yield from started_processes(ArchiverProcess, tmp_path, "archiver")
