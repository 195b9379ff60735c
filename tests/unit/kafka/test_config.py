from iot_pipeline.config import load_settings
from iot_pipeline.kafka.config import consumer_config, producer_config


def test_producer_is_durable_and_idempotent():
    config = producer_config(load_settings(), "c1")
    assert config["acks"] == "all"
    assert config["enable.idempotence"] is True
    assert config["client.id"] == "c1"


def test_consumer_never_commits_by_itself():
    config = consumer_config(load_settings(), "g", "c")
    assert config["enable.auto.commit"] is False
    assert config["enable.auto.offset.store"] is False
    assert config["partition.assignment.strategy"] == "cooperative-sticky"
