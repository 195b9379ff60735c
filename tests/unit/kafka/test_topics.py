from iot_pipeline.config import load_settings
from iot_pipeline.kafka.topics import TopicSpec, pipeline_topics, topic_differences


def test_pipeline_topics_follow_the_settings():
    settings = load_settings(kafka_partitions=6, kafka_replication_factor=3)
    readings, dlq, alerts = pipeline_topics(settings)
    assert (readings.name, readings.partitions, readings.replication_factor) == (
        "iot-sensor-data",
        6,
        3,
    )
    assert readings.config["min.insync.replicas"] == "2"
    assert readings.config["retention.ms"] == str(7 * 24 * 3600 * 1000)
    assert dlq.name == "iot-sensor-data-dlq"
    assert alerts.name == "iot-sensor-alerts"
    assert alerts.config["cleanup.policy"] == "compact"
    assert dlq.config["retention.ms"] == str(30 * 24 * 3600 * 1000)


def test_topic_differences_lists_each_mismatch():
    spec = TopicSpec("t", 6, 3, {"min.insync.replicas": "2", "retention.ms": "100"})
    assert topic_differences(spec, 6, 3, {"min.insync.replicas": "2", "retention.ms": "100"}) == []
    assert topic_differences(spec, 3, 1, {"min.insync.replicas": "1", "retention.ms": "100"}) == [
        "t: 3 partitions, expected 6",
        "t: replication factor 1, expected 3",
        "t: min.insync.replicas=1, expected 2",
    ]
