"""The compose deployment's security wiring, on the model a real `docker compose config`
renders: every Kafka client is its own authenticated principal over TLS, no plain-text Kafka
listener exists, Mosquitto has no anonymous access and publishes TLS to the LAN only, and each
database client has its own role over verified TLS. (Whether the containers then run is not
proven here: no Docker engine; README "Security".)"""

from __future__ import annotations

from typing import Any

from tests.docker.conftest import TEST_SECRETS

BROKERS = ("kafka-broker-1", "kafka-broker-2", "kafka-broker-3")
# Database jobs: they get the shared wiring (bootstrap servers included) but never use Kafka.
NO_KAFKA = {"timescaledb-migrate", "timescaledb-maintenance"}


def _env(service: dict[str, Any]) -> dict[str, str]:
    return {k: "" if v is None else str(v) for k, v in (service.get("environment") or {}).items()}


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    return {m["target"]: m["source"] for m in service.get("volumes", [])}


def test_every_kafka_client_is_its_own_principal_over_sasl_ssl(
    services: dict[str, Any],
) -> None:
    principals: dict[str, str] = {}
    for name, service in services.items():
        env = _env(service)
        if "KAFKA_SASL_USERNAME" not in env:
            if name in NO_KAFKA:
                assert "KAFKA_BOOTSTRAP_SERVERS" not in env, name
                continue
            assert "KAFKA_BOOTSTRAP_SERVERS" not in env, f"{name} uses Kafka without a principal"
            continue
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", name
        assert env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512", name
        assert env["KAFKA_SSL_CA_LOCATION"] == "/certs/public/ca.pem", name
        assert _mounts(service)["/certs"] == "certs", name
        assert env["KAFKA_SASL_PASSWORD"].startswith("test-only-kafka-"), name
        principals[name] = env["KAFKA_SASL_USERNAME"]
    assert len(set(principals.values())) == len(principals), principals
    assert {
        "kafka-producer", "ruuvitag-adapter", "kafka-consumer", "timescaledb-sink",
        "lake-archiver", "kafka-lag-exporter", "kafka-topics",
    } <= set(principals)  # fmt: skip
    assert principals["timescaledb-sink"] == "iot-sink"
    assert principals["kafka-topics"] == "iot-admin"
    # The JVM clients: their own principals too, in JAAS.
    registry = _env(services["schema-registry"])
    assert registry["SCHEMA_REGISTRY_KAFKASTORE_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert 'username="iot-registry"' in registry["SCHEMA_REGISTRY_KAFKASTORE_SASL_JAAS_CONFIG"]
    ui = _env(services["kafka-ui"])
    assert ui["KAFKA_CLUSTERS_0_PROPERTIES_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert 'username="iot-ui"' in ui["KAFKA_CLUSTERS_0_PROPERTIES_SASL_JAAS_CONFIG"]


def test_no_kafka_listener_is_plaintext_and_only_sasl_ssl_is_published(
    services: dict[str, Any],
) -> None:
    for name in BROKERS:
        env = _env(services[name])
        protocols = dict(
            p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
        )
        assert set(protocols.values()) == {"SASL_SSL"}, name
        listeners = {
            int(item.rsplit(":", 1)[1]): item.split("://")[0]
            for item in env["KAFKA_LISTENERS"].split(",")
        }
        for port in services[name]["ports"]:
            if port["target"] in listeners:  # (the JMX exporter's port is no Kafka listener)
                assert protocols[listeners[port["target"]]] == "SASL_SSL", name
        assert listeners[9093] == "CONTROLLER"
        assert 9093 not in {p["target"] for p in services[name]["ports"]}
        assert env["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
        assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
        assert env["KAFKA_SUPER_USERS"] == "User:broker"
        assert env["KAFKA_SSL_KEYSTORE_TYPE"] == "PEM"
        assert "--command-config" in " ".join(services[name]["healthcheck"]["test"])
        assert services[name]["depends_on"]["cert-init"]["condition"] == (
            "service_completed_successfully"
        )
        # The brokers' own identity is the test secret, in the listener's JAAS.
        jaas = env["KAFKA_LISTENER_NAME_INTERNAL_PLAIN_SASL_JAAS_CONFIG"]
        assert f'user_broker="{TEST_SECRETS["KAFKA_BROKER_PASSWORD"]}"' in jaas


def test_mosquitto_publishes_tls_to_the_lan_and_plain_mqtt_to_this_machine_only(
    services: dict[str, Any],
) -> None:
    mosquitto = services["mosquitto"]
    published = {p["target"]: p.get("host_ip") for p in mosquitto["ports"]}
    assert published == {8883: "0.0.0.0", 1883: "127.0.0.1"}
    script = mosquitto["command"][-1]
    assert "mosquitto_passwd -U /mosquitto/auth/passwd" in script
    assert script.strip().endswith("exec mosquitto -c /mosquitto/auth-src/mosquitto.conf")
    assert {"cert-init", "mqtt-auth-init"} <= set(mosquitto["depends_on"])
    assert _mounts(services["mqtt-auth-init"])["/mosquitto-auth"] == "mosquitto-auth"
    assert _mounts(mosquitto)["/mosquitto/auth-src"] == "mosquitto-auth"
    # Every MQTT client of the pipeline logs in; the services over TLS.
    for name in ("kafka-producer", "ruuvitag-adapter"):
        env = _env(services[name])
        assert env["MQTT_TLS_ENABLED"] == "true" and env["MQTT_BROKER_PORT"] == "8883", name
        assert env["MQTT_USERNAME"] and env["MQTT_PASSWORD"].startswith("test-only-mqtt-"), name
    assert "--mqtt-username=mosquitto-exporter" in services["mosquitto-exporter"]["command"]


def test_each_database_client_has_its_own_role_over_verified_tls(
    services: dict[str, Any],
) -> None:
    assert "ssl=on" in services["timescaledb"]["command"]
    roles = {
        "timescaledb-sink": "iot_sink",
        "timescaledb-migrate": "iot_user",
        "timescaledb-maintenance": "iot_user",
    }
    for name, role in roles.items():
        env = _env(services[name])
        assert env["POSTGRES_USER"] == role, name
        assert env["POSTGRES_SSLMODE"] == "verify-full", name
        assert env["POSTGRES_SSLROOTCERT"] == "/certs/public/ca.pem", name
    assert (
        _env(services["timescaledb-sink"])["POSTGRES_PASSWORD"]
        == (TEST_SECRETS["POSTGRES_SINK_PASSWORD"])
    )
    assert _env(services["grafana"])["POSTGRES_USER"] == "iot_readonly"
    exporter = _env(services["postgres-exporter"])
    assert exporter["DATA_SOURCE_USER"] == "iot_monitoring"
    assert "sslmode=verify-full" in exporter["DATA_SOURCE_URI"]
    # The logins exist before their users start.
    for name in ("timescaledb-sink", "grafana", "postgres-exporter", "timescaledb-maintenance"):
        condition = services[name]["depends_on"]["timescaledb-migrate"]["condition"]
        assert condition == "service_completed_successfully", name
