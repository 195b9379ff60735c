from iot_pipeline.kafka.dead_letter import dead_letter_headers, kafka_source


def test_kafka_source_headers_follow_the_original_headers() -> None:
    headers = dead_letter_headers(
        "invalid_reading",
        "unit is missing",
        service="timescaledb-sink",
        source=kafka_source("iot-sensor-data", 4, 1234),
        original=[("traceparent", b"00-ab"), ("empty", None)],
    )
    assert headers == [
        ("traceparent", b"00-ab"),
        ("empty", b""),
        ("dlq.reason", b"invalid_reading"),
        ("dlq.error", b"unit is missing"),
        ("dlq.source.topic", b"iot-sensor-data"),
        ("dlq.source.partition", b"4"),
        ("dlq.source.offset", b"1234"),
        ("dlq.service", b"timescaledb-sink"),
    ]


def test_bare_names_repeat_the_fields_without_the_prefix() -> None:
    source = [("mqtt_topic", "ruuvitag/data"), ("received_at", "2026-01-01T00:00:00+00:00")]
    headers = dict(
        dead_letter_headers(
            "not_json", "x" * 5000, service="adapter", source=source, bare_names=True
        )
    )
    assert headers["reason"] == headers["dlq.reason"] == b"not_json"
    assert headers["mqtt_topic"] == headers["dlq.source.mqtt_topic"] == b"ruuvitag/data"
    assert headers["source"] == headers["dlq.service"] == b"adapter"
    assert len(headers["error"]) == len(headers["dlq.error"]) == 1000
