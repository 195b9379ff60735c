"""Fixtures for the firmware-to-database test, shared with the suites that own them: the host
tools' build (tests/firmware), the adapter and the sink as real processes (tests/e2e/...)."""

from tests.e2e.adapter.conftest import start_adapter  # noqa: F401
from tests.e2e.sink.conftest import start_sink  # noqa: F401
from tests.firmware.conftest import firmware_tools  # noqa: F401
