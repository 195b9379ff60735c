from iot_pipeline.sink.dlq import DeadLetterReason, dlq_headers


def test_headers_keep_the_original_ones_and_say_why_and_where_from() -> None:
    headers = dlq_headers(
        DeadLetterReason.INVALID_READING,
        "unit is missing",
        "iot-sensor-data",
        4,
        1234,
        [("trace", b"abc"), ("empty", None)],
    )
    assert headers == [
        ("trace", b"abc"),
        ("empty", b""),
        ("dlq.reason", b"invalid_reading"),
        ("dlq.error", b"unit is missing"),
        ("dlq.source.topic", b"iot-sensor-data"),
        ("dlq.source.partition", b"4"),
        ("dlq.source.offset", b"1234"),
        ("dlq.service", b"timescaledb-sink"),
    ]


def test_long_error_detail_is_capped() -> None:
    headers = dict(dlq_headers(DeadLetterReason.DATABASE_REJECTED, "x" * 5000, "t", 0, 0))
    assert len(headers["dlq.error"]) == 1000
