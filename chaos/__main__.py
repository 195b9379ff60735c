"""``python -m chaos [fault-id,...]`` (or CHAOS_FAULTS=...): see chaos/runner.py."""

from __future__ import annotations

import sys

from chaos.runner import main
from iot_pipeline.observability.logging import configure_logging

if __name__ == "__main__":
    configure_logging("WARNING", "text")
    sys.exit(main(sys.argv[1:]))
