"""`python -m bench [NAME ...]`: run the benchmarks (all by default) against the local stack."""

from __future__ import annotations

import importlib
import sys

from iot_pipeline.observability.logging import configure_logging

BENCHES = {
    "producer": "bench.kafka_producer",
    "sink": "bench.timescaledb_sink",
    "adapter": "bench.ruuvitag_adapter",
    "hotpath": "bench.adapter_hotpath",
    "lake": "bench.lake_archiver",
    "peers": "bench.peers",
    "e2e": "bench.e2e",
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHES)
    unknown = [name for name in names if name not in BENCHES]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; known: {list(BENCHES)}", file=sys.stderr)
        return 2
    # Library INFO lines (migrations, topic creation) would bury the figures.
    configure_logging("WARNING", "text")
    failed = 0
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        failed += importlib.import_module(BENCHES[name]).run() != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
