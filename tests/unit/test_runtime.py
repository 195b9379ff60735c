"""The interpreter tuning of the hot services."""

from __future__ import annotations

import gc

from iot_pipeline.runtime import gc_thresholds, tune_for_throughput


def test_thresholds_collect_less_often_than_cpython_default() -> None:
    gen0, gen1, gen2 = gc_thresholds()
    assert gen0 > 700 and gen1 >= 10 and gen2 >= 10


def test_tuning_freezes_start_up_objects_and_sets_the_thresholds() -> None:
    before = gc.get_threshold()
    try:
        tune_for_throughput()
        assert gc.get_threshold() == gc_thresholds()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
