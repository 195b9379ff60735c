"""The chaos run's verdicts and tables."""

from __future__ import annotations

import json
import math

from chaos.faults import Fault
from chaos.report import (
    FaultResult,
    alert_state,
    describe_alert,
    first_true_after,
    lost,
    markdown,
    repeated,
    to_json,
)
from chaos.runner import _first_seen_ms, choose


def result(**changes: object) -> FaultResult:
    base = dict(
        fault="SIGKILL sink, restart",
        published=400,
        stored=400,
        lost=0,
        stored_twice=0,
        alerts_repeated=0,
        recovery_s=1.25,
        alert="",
        alert_state="n/a",
    )
    base.update(changes)
    return FaultResult(**base)  # type: ignore[arg-type]


def test_lost_counts_acknowledged_messages_never_stored() -> None:
    assert lost([("a", 1), ("a", 2), ("b", 1)], {("a", 1), ("b", 1), ("c", 9)}) == 1
    assert lost([], set()) == 0


def test_repeated_counts_extra_copies_of_an_event() -> None:
    events = [("d|threshold_high|1", "fired"), ("d|threshold_high|1", "resolved"),
              ("d|threshold_high|1", "fired"), ("d|threshold_high|1", "fired")]  # fmt: skip
    assert repeated(events) == 2
    assert repeated([("x", "fired")]) == 0


def test_alert_state_takes_the_highest_reached() -> None:
    assert alert_state({"pending", "firing"}) == "firing"
    assert alert_state({"pending"}) == "pending"
    assert alert_state(set()) == "not raised"


def test_a_fault_passes_only_with_nothing_lost_doubled_or_repeated() -> None:
    assert result().ok
    assert not result(lost=1).ok
    assert not result(stored_twice=1).ok
    assert not result(alerts_repeated=1).ok


def test_markdown_and_json_tables() -> None:
    rows = [result(), result(fault="PostgreSQL stopped 30 s", alert="PostgresDown",
                             alert_state="pending", recovery_s=math.nan, lost=2)]  # fmt: skip
    md = markdown(rows).splitlines()
    assert len(md) == 4
    assert md[2] == "| SIGKILL sink, restart | 400 | 400 | 0 | 0 | 0 | 1.2 s | n/a |"
    assert md[3].endswith("| 2 | 0 | 0 | - | PostgresDown: condition not seen, pending |")
    data = json.loads(to_json(rows, {"rate": 40}))
    assert data["rate"] == 40 and data["faults"][1]["recovery_s"] is None
    assert [f["ok"] for f in data["faults"]] == [True, False]


def test_alert_ids_carry_their_first_seen_time() -> None:
    assert _first_seen_ms("BE:E2:01:00:00:01_temperature|threshold_high|1700000000123") == (
        1700000000123
    )
    assert _first_seen_ms("None") == 0


def test_choose_faults_by_id() -> None:
    def noop() -> None:
        return None

    faults = [Fault("a-kill", "A", noop, noop, 1, ""), Fault("b-kill", "B", noop, noop, 1, "")]
    assert choose(faults, None) == faults
    assert [f.id for f in choose(faults, "b-kill")] == ["b-kill"]
    try:
        choose(faults, "c-kill")
    except SystemExit as exc:
        assert "c-kill" in str(exc)
    else:
        raise AssertionError("an unknown fault id must be refused")


def test_first_true_after_takes_the_earliest_sample_in_the_window() -> None:
    series = [
        {"metric": {"instance": "a"}, "values": [[99.0, "0"], [112.0, "0"], [113.0, "0"]]},
        {"metric": {"instance": "b"}, "values": [[108.5, "0"]]},
    ]
    assert first_true_after(series, 100.0) == 8.5
    assert math.isnan(first_true_after(series, 200.0))
    assert math.isnan(first_true_after([], 100.0))


def test_the_alert_cell_says_when_the_condition_held_and_what_the_alert_reached() -> None:
    assert describe_alert(result()) == "n/a"
    pending = result(alert="KafkaBrokerDown", alert_state="pending", detected_s=12.4,
                     alert_for_s=60.0)  # fmt: skip
    assert describe_alert(pending) == (
        "KafkaBrokerDown: condition seen after 12 s, pending; fires after 60 s"
    )
    firing = result(alert="PostgresDown", alert_state="firing", detected_s=3.0, alert_for_s=60.0)
    assert describe_alert(firing) == "PostgresDown: condition seen after 3 s, firing"
    unseen = result(alert="MosquittoDown", alert_state="not raised")
    assert describe_alert(unseen) == "MosquittoDown: condition not seen, not raised"
