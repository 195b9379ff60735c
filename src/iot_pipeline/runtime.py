"""Interpreter tuning for the hot services (adapter, sink), applied once in their main().

CPython's cyclic garbage collector runs a generation-0 pass every 700 net allocations; the
adapter and the sink allocate dozens of short-lived objects a message (dicts, tuples, bytes)
that reference counting frees anyway, so most of those passes find nothing. After start-up the
long-lived objects (modules, settings, clients) are frozen out of the collector's view and
generation 0 is collected every ``GEN0_THRESHOLD`` allocations instead: measured by
``make bench BENCH=peers`` and the adapter's cost breakdown.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 50_000
GEN1_THRESHOLD = 20
GEN2_THRESHOLD = 100


def gc_thresholds() -> tuple[int, int, int]:
    """The thresholds the hot services run with (pure)."""
    return GEN0_THRESHOLD, GEN1_THRESHOLD, GEN2_THRESHOLD


def tune_for_throughput() -> None:
    """Freeze what start-up allocated and collect generation 0 less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*gc_thresholds())
