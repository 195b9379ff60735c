"""The brokers' secured listener (SASL_SSL, SCRAM-SHA-512) refuses what the security design says
it refuses, on the real cluster: clients without credentials or with a wrong password; the sink's
principal producing to the readings topic; the adapter's principal reading it. And each service's
principal does what it needs (the pipeline's end-to-end tests run every service this way)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from devstack.config import StackConfig
from devstack.kafka_auth import ADAPTER, ADMIN, LAG_EXPORTER, SINK, Names
from devstack.tls import tls_dir
from iot_pipeline.config import load_settings
from iot_pipeline.kafka.config import client_config
from iot_pipeline.kafka.topics import ensure_topics, pipeline_topics

pytestmark = pytest.mark.e2e

NAMES = Names()


def login(stack: StackConfig, principal: str, password: str | None = None) -> dict[str, Any]:
    """A client configuration for the secured listener, built as every service builds its own."""
    settings = load_settings(
        kafka_bootstrap_servers=stack.kafka_secure_bootstrap,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username=principal,
        kafka_sasl_password=password or stack.kafka_password(principal),
        kafka_ssl_ca_location=tls_dir(stack.state_dir) / "ca.pem",
    )
    return client_config(settings, {"socket.timeout.ms": 10000})


@pytest.fixture(scope="module")
def pipeline_topics_exist(stack: StackConfig) -> None:
    """The real topics, as `make run` makes them (idempotent; on the loopback listener)."""
    names = load_settings(
        kafka_topic_name=NAMES.readings,
        kafka_dlq_topic_name=NAMES.dead_letters,
        kafka_alerts_topic_name=NAMES.alerts,
    )
    ensure_topics(AdminClient({"bootstrap.servers": stack.kafka_bootstrap}), pipeline_topics(names))


def metadata_error(config: dict[str, Any]) -> str | None:
    """None if the client gets the cluster's metadata, else what went wrong."""
    try:
        AdminClient({**config, "log_level": 0}).list_topics(timeout=8)
    except KafkaException as exc:
        return str(exc)
    return None


def produce_error(config: dict[str, Any], topic: str) -> KafkaError | None:
    """The delivery report's error for one record (None: delivered)."""
    reports: list[KafkaError | None] = []
    producer = Producer({**config, "acks": "all", "message.timeout.ms": 15000, "log_level": 0})
    producer.produce(topic, b"e2e-security", on_delivery=lambda err, _msg: reports.append(err))
    producer.flush(30)
    assert len(reports) == 1, "no delivery report"
    return reports[0]


def test_a_client_without_credentials_or_with_a_wrong_password_is_refused(
    stack: StackConfig,
) -> None:
    ca = str(tls_dir(stack.state_dir) / "ca.pem")
    secured = stack.kafka_secure_bootstrap
    # TLS but no SASL login; SASL without TLS; the right user with a wrong password.
    assert metadata_error(
        {"bootstrap.servers": secured, "security.protocol": "ssl", "ssl.ca.location": ca}
    )
    assert metadata_error({"bootstrap.servers": secured})
    assert metadata_error(login(stack, SINK, password="not-the-password"))
    # The secured listener's certificate is the stack CA's: a client trusting only the system's
    # CAs does not connect.
    no_ca = {**login(stack, SINK), "ssl.ca.location": "/etc/ssl/certs/ca-certificates.crt"}
    assert metadata_error(no_ca)
    # With its own password, the same principal gets in.
    assert metadata_error(login(stack, SINK)) is None


def test_the_sink_principal_cannot_produce_to_the_readings_topic(
    stack: StackConfig, pipeline_topics_exist: None, kafka_topic_factory: Any
) -> None:
    denied = produce_error(login(stack, SINK), NAMES.readings)
    assert denied is not None and denied.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, denied
    # The same client writes where its rules allow (a test's dead-letter topic); nothing is
    # written to the real topics (`make run` and tests/monitoring run the services there).
    assert produce_error(login(stack, SINK), kafka_topic_factory("e2e-sec-dlq")) is None


def test_the_adapter_principal_cannot_read_the_readings_topic(
    stack: StackConfig, pipeline_topics_exist: None
) -> None:
    consumer = Consumer(
        {
            **login(stack, ADAPTER),
            "group.id": f"e2e-sec-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "log_level": 0,
        }
    )
    try:
        consumer.assign([TopicPartition(NAMES.readings, p, 0) for p in range(3)])
        errors: set[int] = set()
        deadline = time.monotonic() + 20
        while not errors and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is not None:
                errors.add(message.error().code())
            elif message is not None:
                pytest.fail("the adapter's principal read a record")
        # It has no right to read the topic nor to use any consumer group: the broker refuses
        # the first request that needs one (librdkafka fetches the group's offsets first).
        refused = {KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.GROUP_AUTHORIZATION_FAILED}
        assert errors and errors <= refused, errors
    finally:
        consumer.close()


def test_the_lag_exporter_principal_only_describes(
    stack: StackConfig, pipeline_topics_exist: None
) -> None:
    admin = AdminClient(login(stack, LAG_EXPORTER))
    groups = admin.list_consumer_groups(request_timeout=15).result()
    assert groups.errors == []
    denied = produce_error(login(stack, LAG_EXPORTER), NAMES.readings)
    assert denied is not None and denied.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_only_the_admin_principal_creates_and_deletes_any_topic(stack: StackConfig) -> None:
    from confluent_kafka.admin import NewTopic

    name = f"sec-admin-{uuid.uuid4().hex[:8]}"  # no test prefix: the services' rules do not apply
    sink = AdminClient(login(stack, SINK))
    refused = sink.create_topics([NewTopic(name, 1, 3)], operation_timeout=15)[name]
    with pytest.raises(KafkaException) as error:
        refused.result()
    assert error.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    admin = AdminClient(login(stack, ADMIN))
    admin.create_topics([NewTopic(name, 1, 3)], operation_timeout=15)[name].result()
    admin.delete_topics([name], operation_timeout=15)[name].result()
