"""The local stack is real: replicated Kafka with acks=all, a Confluent-compatible Schema Registry,
MQTT QoS 1, TimescaleDB hypertables, and a broker that fails and rejoins the ISR."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import ConfigResource

from devstack import proc
from devstack.config import REPO_ROOT
from devstack.services import all_services
from tests.conftest import stack_mqtt_credentials

pytestmark = pytest.mark.integration


def produce(bootstrap: str, topic: str, values: list[str]) -> tuple[list[str], list[str]]:
    """Produce with acks=all (idempotent); return (delivered values, delivery errors)."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "message.timeout.ms": 60000,
        }
    )
    delivered: list[str] = []
    errors: list[str] = []

    def on_delivery(err, msg) -> None:
        if err is not None:
            errors.append(str(err))
        else:
            delivered.append(msg.value().decode())

    for i, value in enumerate(values):
        producer.produce(topic, key=f"key-{i % 17}", value=value, on_delivery=on_delivery)
        producer.poll(0)
    assert producer.flush(90) == 0, "messages still in flight after 90 s"
    return delivered, errors


def consume(bootstrap: str, topic: str, group: str, count: int, timeout_s: float = 60) -> list[str]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    values: list[str] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(values) < count and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            values.append(msg.value().decode())
    finally:
        consumer.close()
    return values


def test_acks_all_round_trip_on_a_replicated_topic(
    kafka_bootstrap_servers, kafka_admin, kafka_topic_factory, consumer_group_factory
):
    topic = kafka_topic_factory("smoke")
    metadata = kafka_admin.list_topics(topic, timeout=10).topics[topic]
    assert len(metadata.partitions) == 6
    assert all(len(p.replicas) == 3 for p in metadata.partitions.values())
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    config = kafka_admin.describe_configs([resource])[resource].result()
    assert config["min.insync.replicas"].value == "2"

    values = [f"smoke-{uuid.uuid4().hex}" for _ in range(200)]
    delivered, errors = produce(kafka_bootstrap_servers, topic, values)
    assert errors == []
    assert sorted(delivered) == sorted(values)
    assert sorted(consume(kafka_bootstrap_servers, topic, consumer_group_factory(), 200)) == sorted(
        values
    )


def test_avro_schema_registers_and_is_fetched_by_id(schema_registry_client, unique_name):
    from confluent_kafka.schema_registry import Schema
    from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
    from confluent_kafka.schema_registry.error import SchemaRegistryError
    from confluent_kafka.serialization import MessageField, SerializationContext

    subject = f"{unique_name('smoke')}-value"
    v1 = {
        "type": "record",
        "name": "Smoke",
        "namespace": "io.iotpipeline.test",
        "fields": [{"name": "device_id", "type": "string"}, {"name": "value", "type": "double"}],
    }
    schema_id = schema_registry_client.register_schema(subject, Schema(json.dumps(v1), "AVRO"))
    fetched = schema_registry_client.get_schema(schema_id)
    assert fetched.schema_type == "AVRO"
    assert json.loads(fetched.schema_str)["fields"] == v1["fields"]

    # BACKWARD compatibility is enforced: a new required field is rejected with HTTP 409,
    # the same field with a default is accepted as version 2.
    schema_registry_client.set_compatibility(subject, "BACKWARD")
    assert schema_registry_client.get_compatibility(subject) == "BACKWARD"
    breaking = {**v1, "fields": [*v1["fields"], {"name": "unit", "type": "string"}]}
    with pytest.raises(SchemaRegistryError) as rejected:
        schema_registry_client.register_schema(subject, Schema(json.dumps(breaking), "AVRO"))
    assert rejected.value.http_status_code == 409
    evolved = {
        **v1,
        "fields": [*v1["fields"], {"name": "unit", "type": "string", "default": ""}],
    }
    schema_registry_client.register_schema(subject, Schema(json.dumps(evolved), "AVRO"))
    assert schema_registry_client.get_latest_version(subject).version == 2

    # Confluent wire format through the registry: magic byte, schema id, Avro body.
    topic = subject.removesuffix("-value")
    ctx = SerializationContext(topic, MessageField.VALUE)
    serializer = AvroSerializer(
        schema_registry_client, json.dumps(v1), conf={"auto.register.schemas": False}
    )
    data = serializer({"device_id": "dev-1", "value": 21.5}, ctx)
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") == schema_id
    assert AvroDeserializer(schema_registry_client)(data, ctx) == {
        "device_id": "dev-1",
        "value": 21.5,
    }
    schema_registry_client.delete_subject(subject)


def test_mqtt_qos1_round_trip(mqtt_host, mqtt_port, unique_name):
    import paho.mqtt.client as paho

    topic = f"test/{unique_name('smoke')}"
    payload = uuid.uuid4().bytes
    subscribed, received = threading.Event(), threading.Event()
    got: list[paho.MQTTMessage] = []
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=unique_name("smoke"))
    client.username_pw_set(*stack_mqtt_credentials())
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *_: subscribed.set()

    def on_message(_c, _u, msg) -> None:
        got.append(msg)
        received.set()

    client.on_message = on_message
    client.connect(mqtt_host, mqtt_port, keepalive=10)
    client.loop_start()
    try:
        assert subscribed.wait(10)
        info = client.publish(topic, payload, qos=1)
        info.wait_for_publish(10)
        assert info.is_published()
        assert received.wait(10)
    finally:
        client.loop_stop()
        client.disconnect()
    assert got[0].payload == payload and got[0].qos == 1


def test_timescaledb_hypertable_accepts_inserts(postgres_dsn, pg_schema_factory):
    import psycopg2

    schema = pg_schema_factory("smoke")
    conn = psycopg2.connect(postgres_dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                f'CREATE TABLE "{schema}".readings '
                "(time timestamptz NOT NULL, device_id text NOT NULL, value double precision)"
            )
            cur.execute(f"SELECT create_hypertable('\"{schema}\".readings', by_range('time'))")
            cur.execute(
                f'INSERT INTO "{schema}".readings '
                "SELECT now() - make_interval(days => g), 'dev-' || (g % 3), g "
                "FROM generate_series(0, 99) AS g"
            )
            cur.execute(f'SELECT count(*), sum(value) FROM "{schema}".readings')
            assert cur.fetchone() == (100, 4950.0)
            cur.execute(
                "SELECT num_chunks > 1 FROM timescaledb_information.hypertables "
                "WHERE hypertable_schema = %s AND hypertable_name = 'readings'",
                (schema,),
            )
            assert cur.fetchone() == (True,)
    finally:
        conn.close()


def _isr(kafka_admin, topic: str) -> dict[int, list[int]]:
    partitions = kafka_admin.list_topics(topic, timeout=10).topics[topic].partitions
    return {p.id: sorted(p.isrs) for p in partitions.values()}


def test_broker_failure_keeps_acks_all_writes_and_the_broker_rejoins_the_isr(
    stack, kafka_bootstrap_servers, kafka_admin, kafka_topic_factory, consumer_group_factory
):
    topic = kafka_topic_factory("failover")
    victim_id = kafka_admin.list_topics(topic, timeout=10).topics[topic].partitions[0].leader
    victim = next(s for s in all_services(stack) if s.name == f"kafka-{victim_id}")
    assert proc.running_record(victim.pidfile(stack)) is not None, "broker not run by devstack"

    before = [f"before-{i}" for i in range(100)]
    assert produce(kafka_bootstrap_servers, topic, before)[1] == []
    try:
        stopped = proc.stop(victim.pidfile(stack), timeout_s=victim.stop_timeout_s)
        assert stopped.startswith(("stopped", "killed")), stopped
        # Two of three replicas remain: min.insync.replicas=2 still holds, so acks=all succeeds.
        during = [f"during-{i}" for i in range(300)]
        delivered, errors = produce(kafka_bootstrap_servers, topic, during)
        assert errors == []
        assert sorted(delivered) == sorted(during)
        assert all(victim_id not in isr for isr in _isr(kafka_admin, topic).values())
    finally:
        restarted = subprocess.run(
            [sys.executable, "-m", "devstack", "up"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert restarted.returncode == 0, restarted.stdout[-3000:] + restarted.stderr[-3000:]

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        isr = _isr(kafka_admin, topic)
        if all(victim_id in replicas for replicas in isr.values()):
            break
        time.sleep(1)
    assert all(victim_id in replicas for replicas in isr.values()), isr

    # Nothing was lost: every message written before, during and after the failure is readable.
    after = [f"after-{i}" for i in range(100)]
    assert produce(kafka_bootstrap_servers, topic, after)[1] == []
    expected = before + during + after
    got = consume(kafka_bootstrap_servers, topic, consumer_group_factory(), len(expected))
    assert sorted(got) == sorted(expected)
    # Retries during the failover wrote no duplicates (idempotent producer): the log end offsets
    # add up to exactly what was sent.
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap_servers, "group.id": "unused"})
    try:
        total = sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in isr
        )
    finally:
        consumer.close()
    assert total == len(expected)
