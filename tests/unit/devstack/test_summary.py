"""make run's live summary: parsing scrapes into stage rows, the table and the plain lines."""

from __future__ import annotations

from devstack.summary import (
    STAGES,
    Row,
    Stage,
    buckets,
    health,
    plain,
    quantile,
    redraw,
    stage_row,
    table,
    total,
)


def exposition(processed: float, fast: float, slow: float, lag: float | None = None) -> str:
    """A sink's /metrics: ``fast`` observations under 10 ms, ``slow`` more under 100 ms."""
    text = f"""\
# HELP iot_messages_processed_total Stored.
# TYPE iot_messages_processed_total counter
iot_messages_processed_total {processed}
# HELP iot_sink_kafka_to_commit_seconds Kafka to commit.
# TYPE iot_sink_kafka_to_commit_seconds histogram
iot_sink_kafka_to_commit_seconds_bucket{{le="0.01"}} {fast}
iot_sink_kafka_to_commit_seconds_bucket{{le="0.1"}} {fast + slow}
iot_sink_kafka_to_commit_seconds_bucket{{le="+Inf"}} {fast + slow}
iot_sink_kafka_to_commit_seconds_count {fast + slow}
iot_sink_kafka_to_commit_seconds_sum 1.0
"""
    if lag is not None:
        text += f"""\
# HELP kafka_consumergroup_lag Lag.
# TYPE kafka_consumergroup_lag gauge
kafka_consumergroup_lag{{consumergroup="iot-timescaledb-sink",topic="t",partition="0"}} {lag}
kafka_consumergroup_lag{{consumergroup="iot-timescaledb-sink",topic="t",partition="1"}} 1
kafka_consumergroup_lag{{consumergroup="other",topic="t",partition="0"}} 1000
"""
    return text


SINK = next(stage for stage in STAGES if stage.service == "timescaledb-sink")


def test_totals_and_buckets_sum_over_label_sets() -> None:
    text = exposition(10, 4, 6, lag=5)
    assert total(text, "iot_messages_processed_total") == 10
    assert total(text, "kafka_consumergroup_lag") == 1006
    assert total(text, "kafka_consumergroup_lag", (("consumergroup", "other"),)) == 1000
    assert buckets(text, "iot_sink_kafka_to_commit_seconds") == [
        (0.01, 4.0),
        (0.1, 10.0),
        (float("inf"), 10.0),
    ]


def test_quantile_covers_only_what_was_observed_between_scrapes() -> None:
    before = [(0.01, 100.0), (0.1, 100.0), (float("inf"), 100.0)]
    after = [(0.01, 100.0), (0.1, 200.0), (float("inf"), 200.0)]
    assert abs(quantile(before, after, 0.99) - 0.0991) < 1e-9  # the new 100 all in (10, 100] ms
    assert abs(quantile([], after, 0.25) - 0.005) < 1e-9
    assert quantile(after, after, 0.99) is None  # nothing new
    assert quantile([], [(1.0, 0.0), (float("inf"), 3.0)], 0.5) == 1.0  # beyond the last bound


def test_health_of_a_service() -> None:
    assert health(True, None, "metrics") == "up"
    assert health(True, None, None) == "starting"
    assert health(False, 1, None) == "exited 1"
    assert health(None, None, None) == "down"


def test_stage_row_rates_lag_and_p99_from_two_scrapes() -> None:
    before = {"timescaledb-sink": exposition(100, 100, 0)}
    now = {"timescaledb-sink": exposition(300, 300, 0), "lag-exporter": exposition(0, 0, 0, 7)}
    row = stage_row(SINK, now, before, (True, None), 2.0)
    assert row.health == "up" and row.total == 300 and row.rate == 100.0
    assert row.lag == 8  # the sink's group only, every partition
    assert row.p99 is not None and row.p99 <= 0.01


def test_stage_row_without_metrics_or_history() -> None:
    row = stage_row(SINK, {}, {}, (True, None), 2.0)
    assert row == Row(SINK.label, "starting", None, None, None, None)
    first = stage_row(SINK, {"timescaledb-sink": exposition(5, 5, 0)}, {}, (True, None), 0.0)
    assert first.total == 5 and first.rate is None and first.p99 is not None
    alerts = Stage("alerts", "a", "x_total", None, "missing_gauge")
    assert stage_row(alerts, {"a": "x_total 1\n"}, {}, (True, None), 1.0).lag is None


ROWS = [
    Row("sink: Kafka -> committed rows", "up", 12345.0, 99.5, 3.0, 0.0123),
    Row("alerts fired", "exited 1", None, None, None, None),
]


def test_table_is_fixed_width_with_every_column() -> None:
    lines = table(ROWS, "12:00:00")
    assert lines[0].startswith("pipeline at 12:00:00")
    assert lines[1].split() == ["stage", "health", "total", "rate/s", "lag", "p99"]
    assert len({len(line) for line in lines[1:]}) == 1
    assert "12,345" in lines[3] and "99.5" in lines[3] and "12.3 ms" in lines[3]
    assert lines[4].split()[-4:] == ["-", "-", "-", "-"] and "exited 1" in lines[4]


def test_plain_lines_one_per_stage() -> None:
    assert plain(ROWS, "12:00:00") == [
        "12:00:00 sink: Kafka -> committed rows: health=up total=12345 rate=99.5/s lag=3 "
        "p99=12.3 ms",
        "12:00:00 alerts fired: health=exited 1 total=- rate=-/s lag=- p99=-",
    ]


def test_redraw_moves_up_over_the_previous_table() -> None:
    assert redraw(["a", "b"], 0) == "\x1b[Ja\nb\n"
    assert redraw(["a", "b"], 3) == "\x1b[3F\x1b[Ja\nb\n"
