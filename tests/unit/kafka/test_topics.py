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


def test_a_topic_a_stale_broker_missed_is_still_checked_for_drift():
    """The broker answering list_topics() may not know a topic yet (KRaft metadata reaches
    brokers a moment apart): create_topics() then says it exists, and it must be compared."""
    from types import SimpleNamespace

    from confluent_kafka import KafkaError, KafkaException

    from iot_pipeline.kafka.topics import ensure_topics

    class Exists:
        def result(self):
            raise KafkaException(KafkaError(KafkaError.TOPIC_ALREADY_EXISTS))

    class Config:
        def result(self):
            return {"retention.ms": SimpleNamespace(value="604800000")}

    known = SimpleNamespace(
        error=None,
        partitions={i: SimpleNamespace(leader=1, replicas=[1, 2, 3]) for i in range(6)},
    )

    class StaleAdmin:
        def __init__(self):
            self.lists = 0

        def list_topics(self, timeout):
            self.lists += 1
            return SimpleNamespace(topics={} if self.lists == 1 else {"t": known})

        def create_topics(self, new_topics, operation_timeout):
            return {"t": Exists()}

        def describe_configs(self, resources, request_timeout):
            return {resources[0]: Config()}

    wanted = TopicSpec("t", 12, 3, {"retention.ms": "1000"})
    assert ensure_topics(StaleAdmin(), [wanted]) == [
        "t: 6 partitions, expected 12",
        "t: retention.ms=604800000, expected 1000",
    ]
