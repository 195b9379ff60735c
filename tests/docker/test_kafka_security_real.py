"""Compose's Kafka security on a real broker, without a Docker engine: the broker properties
Confluent's image would write from kafka-broker-1's environment in the rendered compose model
(SASL_SSL listeners, PEM keystore from cert-init, PLAIN for the brokers, SCRAM-SHA-512 for
clients, StandardAuthorizer), run by the native stack's Kafka distribution as a one-node cluster;
kafka-init's users and ACLs applied; then clients check who may do what."""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from devstack.config import StackConfig
from devstack.java import java_bin
from tests.deploy.apiserver import free_port
from tests.docker.conftest import DOCKER_DIR, REPO, TEST_SECRETS

# Not broker properties (Confluent's template excludes these or they are not KAFKA_*).
NOT_PROPERTIES = {"KAFKA_HEAP_OPTS", "KAFKA_OPTS", "KAFKA_JMX_OPTS", "KAFKA_LOG4J_OPTS"}


def env_to_properties(env: dict[str, str]) -> dict[str, str]:
    """Confluent's rule: KAFKA_A_B -> a.b, ___ -> '-', __ -> '_'."""
    props = {}
    for key, value in env.items():
        if not key.startswith("KAFKA_") or key in NOT_PROPERTIES or value is None:
            continue
        name = key[len("KAFKA_") :].lower()
        name = name.replace("___", "\0").replace("__", "\1").replace("_", ".")
        props[name.replace("\0", "-").replace("\1", "_")] = str(value)
    return props


@pytest.fixture(scope="module")
def broker(services: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    cfg = StackConfig.from_env()
    if not (cfg.kafka_home / "libs").is_dir():
        pytest.skip(f"needs the native stack's Kafka in {cfg.kafka_home} (make up installs it)")
    work = tmp_path_factory.mktemp("kafka-sec")
    certs = work / "certs"
    subprocess.run(
        ["python3", str(DOCKER_DIR / "init" / "compose_certs.py")],
        env={**os.environ, "CERTS_DIR": str(certs), "DEVSTACK_PARENT": str(REPO)},
        check=True,
        capture_output=True,
    )
    props = env_to_properties(services["kafka-broker-1"]["environment"])
    internal, external, controller = free_port(), free_port(), free_port()
    # One node instead of three, on free loopback ports; every security property is compose's.
    props.update(
        {
            "listeners": f"INTERNAL://localhost:{internal},CONTROLLER://localhost:{controller},"
            f"EXTERNAL://localhost:{external}",
            "advertised.listeners": f"INTERNAL://localhost:{internal},"
            f"EXTERNAL://localhost:{external}",
            "controller.quorum.voters": f"1@localhost:{controller}",
            "log.dirs": str(work / "data"),
            "ssl.keystore.location": str(certs / "kafka-broker-1" / "keystore.pem"),
            "ssl.truststore.location": str(certs / "public" / "ca.pem"),
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
        }
    )
    assert props["listener.security.protocol.map"] == (
        "CONTROLLER:SASL_SSL,INTERNAL:SASL_SSL,EXTERNAL:SASL_SSL"
    )
    (work / "server.properties").write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    java = java_bin(cfg)
    classpath = ["-cp", str(cfg.kafka_home / "libs" / "*")]
    log4j = f"-Dlog4j.configuration=file:{cfg.kafka_home / 'config' / 'log4j.properties'}"
    subprocess.run(
        [java, "-Xmx256m", log4j, *classpath, "kafka.tools.StorageTool", "format",
         "-t", TEST_SECRETS["CLUSTER_ID"], "-c", str(work / "server.properties")],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    log = (work / "kafka.log").open("w")
    process = subprocess.Popen(
        [java, "-Xmx512m", log4j, f"-Dkafka.logs.dir={work}/logs", *classpath, "kafka.Kafka",
         str(work / "server.properties")],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    ca = str(certs / "public" / "ca.pem")
    broker_login = {
        "bootstrap.servers": f"localhost:{internal}",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "broker",
        "sasl.password": TEST_SECRETS["KAFKA_BROKER_PASSWORD"],
        "ssl.ca.location": ca,
    }
    admin = AdminClient(broker_login)
    deadline = time.monotonic() + 120
    while True:
        try:
            admin.list_topics(timeout=5)
            break
        except KafkaException:
            assert process.poll() is None, (work / "kafka.log").read_text()[-3000:]
            assert time.monotonic() < deadline, (work / "kafka.log").read_text()[-3000:]
            time.sleep(1)
    try:
        yield {
            "admin": admin,
            "external": external,
            "internal": f"localhost:{internal}",
            "ca": ca,
            "work": work,
        }
    finally:
        process.terminate()
        process.wait(60)
        log.close()


def apply_kafka_init(admin: AdminClient, grants: list[str]) -> None:
    """kafka-init's users and ACLs (its commands, printed by the script) through the admin API."""
    users = [
        UserScramCredentialUpsertion(
            re.search(r"--entity-name (\S+)", line).group(1),  # type: ignore[union-attr]
            ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192),
            re.search(r"password=([^\]]+)\]", line).group(1).encode(),  # type: ignore[union-attr]
        )
        for line in grants
        if "--entity-type users" in line
    ]
    for future in admin.alter_user_scram_credentials(users).values():
        future.result()
    bindings = []
    for line in grants:
        if "--allow-principal" not in line:
            continue
        principal = re.search(r"--allow-principal (\S+)", line).group(1)  # type: ignore[union-attr]
        pattern = (
            ResourcePatternType.PREFIXED if "prefixed" in line else ResourcePatternType.LITERAL
        )
        resources = [
            (ResourceType[k.upper()], n) for k, n in re.findall(r"--(topic|group) (\S+)", line)
        ]
        if "--cluster" in line:
            resources.append((ResourceType.BROKER, "kafka-cluster"))
        for operation in re.findall(r"--operation (\S+)", line):
            op = AclOperation[re.sub(r"(?<!^)([A-Z])", r"_\1", operation).upper()]
            for kind, name in resources:
                name = name.strip("'")
                kind_pattern = ResourcePatternType.LITERAL if name == "*" else pattern
                bindings.append(
                    AclBinding(kind, name, kind_pattern, principal, "*", op,
                               AclPermissionType.ALLOW)
                )  # fmt: skip
    for future in admin.create_acls(bindings).values():
        future.result()


def client(broker: dict, user: str, password: str) -> dict[str, str]:
    return {
        "bootstrap.servers": f"localhost:{broker['external']}",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": user,
        "sasl.password": password,
        "ssl.ca.location": broker["ca"],
    }


def produce_result(config: dict[str, str], topic: str) -> str | None:
    """None if the record was acknowledged, else the error's name."""
    errors: list[str | None] = []
    producer = Producer({**config, "message.timeout.ms": 10000, "acks": "all"})
    producer.produce(topic, b"v", on_delivery=lambda err, _m: errors.append(err and err.name()))
    producer.flush(20)
    return errors[0] if errors else "NO_DELIVERY_REPORT"


def test_compose_kafka_security_on_a_real_broker(broker: dict, grants: list[str]) -> None:
    apply_kafka_init(broker["admin"], grants)  # passwords: test-<name> (the grants fixture)
    for topic in ("iot-sensor-data", "iot-sensor-data-dlq"):
        broker["admin"].create_topics([NewTopic(topic, 1, 1)])[topic].result()
    time.sleep(2)
    simulator = client(broker, "iot-simulator", "test-simulator")
    sink = client(broker, "iot-sink", "test-sink")
    # The simulator writes readings; the sink may not, but writes dead letters.
    assert produce_result(simulator, "iot-sensor-data") is None
    assert produce_result(sink, "iot-sensor-data") == "TOPIC_AUTHORIZATION_FAILED"
    assert produce_result(sink, "iot-sensor-data-dlq") is None
    # A wrong password, and no credentials at all, are refused on the published listener.
    wrong = client(broker, "iot-sink", "not-the-password")
    assert produce_result(wrong, "iot-sensor-data-dlq") is not None
    plain = {"bootstrap.servers": f"localhost:{broker['external']}", "socket.timeout.ms": 5000}
    assert produce_result(plain, "iot-sensor-data-dlq") is not None
    # The sink reads readings in its own group only.
    consumer = Consumer(
        {**sink, "group.id": "iot-timescaledb-sink", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe(["iot-sensor-data"])
    deadline = time.monotonic() + 30
    message = None
    while message is None and time.monotonic() < deadline:
        polled = consumer.poll(1)
        if polled is not None and polled.error() is None:
            message = polled
    consumer.close()
    assert message is not None and message.value() == b"v"
    other = Consumer({**sink, "group.id": f"not-its-group-{uuid.uuid4().hex[:6]}"})
    other.subscribe(["iot-sensor-data"])
    error = None
    deadline = time.monotonic() + 20
    while error is None and time.monotonic() < deadline:
        polled = other.poll(1)
        if polled is not None and polled.error() is not None:
            error = polled.error().name()
    other.close()
    assert error == "GROUP_AUTHORIZATION_FAILED"


def test_the_brokers_healthcheck_authenticates_with_the_entrypoint_s_settings(
    broker: dict, services: dict[str, Any]
) -> None:
    properties = broker["work"] / "broker-client.properties"
    config = broker["work"] / "jmx.yml"
    config.write_text("rules: []\n")
    env = services["kafka-broker-1"]["environment"]
    subprocess.run(
        ["bash", str(DOCKER_DIR / "kafka" / "run-with-jmx-agent.sh")],
        env={
            "PATH": os.environ["PATH"],
            "CONFLUENT_RUN": "true",
            "JMX_EXPORTER_CONFIG": str(config),
            "BROKER_CLIENT_PASSWORD": env["BROKER_CLIENT_PASSWORD"],
            "KAFKA_SSL_TRUSTSTORE_LOCATION": broker["ca"],
            "BROKER_CLIENT_PROPERTIES": str(properties),
        },
        check=True,
    )
    # The compose healthcheck's command, against this broker's INTERNAL listener.
    test = services["kafka-broker-1"]["healthcheck"]["test"][-1]
    assert "--command-config /tmp/broker-client.properties" in test
    cfg = StackConfig.from_env()
    # (kafka-broker-api-versions is this class; the native stack keeps Kafka's libs only.)
    result = subprocess.run(
        [java_bin(cfg), "-Xmx128m", "-cp", str(cfg.kafka_home / "libs" / "*"),
         "kafka.admin.BrokerApiVersionsCommand",
         "--bootstrap-server", broker["internal"], "--command-config", str(properties)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ApiVersions" in result.stdout or "Produce(" in result.stdout
