"""The e2e benchmark's arithmetic: commit times per message, percentiles, sustained steps."""

from __future__ import annotations

import math

from bench.e2e_stats import (
    HEADER,
    StepResult,
    commit_times,
    markdown_table,
    nearest_rank,
    ratio,
    step_result,
    sustained,
    table,
)


def test_nearest_rank_returns_observed_values() -> None:
    values = [float(v) for v in range(1, 101)]
    assert nearest_rank(values, 0.5) == 50.0
    assert nearest_rank(values, 0.99) == 99.0
    assert nearest_rank(values, 1.0) == 100.0
    assert nearest_rank([7.0], 0.99) == 7.0
    assert math.isnan(nearest_rank([], 0.5))


def test_a_message_is_done_when_its_last_row_committed() -> None:
    rows = [
        (("A", 1), "100.000001"),
        (("A", 1), "100.5"),  # a second transaction carried the rest of message A/1
        (("B", 2), "100.000001"),
        (("C", 3), "999"),  # no notification for that transaction
    ]
    done, unmatched = commit_times(rows, {"100.000001": 100.02, "100.5": 100.51})
    assert done == {("A", 1): 100.51, ("B", 2): 100.02}
    assert unmatched == 1


def test_step_result_measures_from_publish_to_commit_on_one_clock() -> None:
    published = {("A", i): 10.0 + i * 0.1 for i in range(10)}  # 10 msg/s for 1 s
    committed = {
        key: at + 0.005 + (0.045 if key == ("A", 9) else 0.0) for key, at in published.items()
    }
    result = step_result("10/s", 10.0, published, committed, transactions=10)
    assert result.stored == 10 and result.published == 10
    assert result.p50_ms == 5.0 or math.isclose(result.p50_ms, 5.0)
    assert math.isclose(result.max_ms, 50.0)
    assert math.isclose(result.p99_ms, 50.0)
    span = 10.9 + 0.05 - 10.0
    assert math.isclose(result.achieved, 10 / span)
    assert math.isclose(result.transactions_per_s, 10 / span)


def test_lost_messages_show_in_stored_and_break_sustained() -> None:
    published = {("A", i): 1.0 + i for i in range(4)}
    committed = {("A", 0): 1.01, ("A", 1): 2.01, ("A", 2): 3.01}
    result = step_result("x", 1.0, published, committed, transactions=3)
    assert result.stored == 3 and not sustained(result)


def test_sustained_needs_the_offered_rate() -> None:
    base = StepResult("s", 100.0, 100, 100, 95.0, 1, 2, 3, 4, 5)
    assert sustained(base)
    slow = StepResult("s", 100.0, 100, 100, 60.0, 1, 2, 3, 4, 5)
    assert not sustained(slow)


def test_tables_show_every_step() -> None:
    steps = [
        StepResult("10/s", 10.0, 100, 100, 10.0, 4.2, 8.0, 9.5, 12.0, 9.8),
        StepResult("highest", 0.0, 1000, 1000, 2500.0, 400.0, 800.0, 900.0, 950.0, 20.0),
    ]
    text = table(steps)
    assert text.splitlines()[0] == HEADER
    assert "max" in text.splitlines()[3] and "100/100" in text
    md = markdown_table(steps)
    assert (
        md.count("\n") == 3 and "| 10/s | 10 | 10 | 100/100 | 4.2 | 8.0 | 9.5 | 12.0 | 9.8 |" in md
    )
    assert "as fast as possible" in md


def test_ratio() -> None:
    assert ratio(50.0, 100.0) == 0.5
    assert math.isnan(ratio(1.0, 0.0))
