import base64
import re
from pathlib import Path

from devstack.config import DEFAULT_KAFKA_CLUSTER_ID, StackConfig


def test_defaults_are_the_documented_loopback_ports(tmp_path):
    cfg = StackConfig.from_env({"IOT_STACK_STATE_DIR": str(tmp_path)}).with_secrets()
    assert cfg.kafka_bootstrap == "127.0.0.1:29092,127.0.0.1:29093,127.0.0.1:29094"
    assert cfg.registry_url == "http://127.0.0.1:8081/apis/ccompat/v7"
    assert (cfg.mqtt_port, cfg.postgres_port, cfg.prometheus_port) == (1883, 5432, 9090)
    assert cfg.alertmanager_port == 9095
    assert cfg.postgres_dsn == (
        f"postgresql://iot_user:{cfg.postgres_password}@127.0.0.1:5432/iot_data"
    )
    assert cfg.registry_jdbc_url == "jdbc:postgresql://127.0.0.1:5432/apicurio_registry"
    assert (cfg.registry_db, cfg.registry_db_user) == ("apicurio_registry", "apicurio_registry")
    assert len(set(cfg.kafka_ports + cfg.kafka_controller_ports)) == 6


def test_versions_come_from_the_pinned_pom(tmp_path):
    cfg = StackConfig.from_env({"IOT_STACK_STATE_DIR": str(tmp_path)})
    pom = (Path(__file__).resolve().parents[3] / "devstack" / "pom.xml").read_text()
    assert f"<kafka.version>{cfg.kafka_version}</kafka.version>" in pom
    assert f"<apicurio.version>{cfg.apicurio_version}</apicurio.version>" in pom
    assert cfg.kafka_home.name == f"kafka-{cfg.kafka_version}"
    assert cfg.jmx_exporter_jar.name == "jmx_prometheus_javaagent.jar"


def test_environment_overrides(tmp_path):
    cfg = StackConfig.from_env(
        {
            "IOT_STACK_STATE_DIR": str(tmp_path / "state"),
            "IOT_STACK_CACHE_DIR": str(tmp_path / "cache"),
            "POSTGRES_PORT": "6543",
            "POSTGRES_PASSWORD": "test-only-pg",
            "KAFKA_CLUSTER_ID": "MkU3OEVBNTcwNTJENDM2Qk",
            "IOT_STACK_UP_TIMEOUT": "42",
            "REGISTRY_DB_PASSWORD": "test-only-reg",
        }
    )
    assert cfg.state_dir == tmp_path / "state"
    assert cfg.logs_dir == tmp_path / "state" / "logs"
    assert cfg.kafka_home.parent == tmp_path / "cache"
    assert cfg.postgres_dsn == "postgresql://iot_user:test-only-pg@127.0.0.1:6543/iot_data"
    assert cfg.kafka_cluster_id == "MkU3OEVBNTcwNTJENDM2Qk"
    assert cfg.up_timeout_s == 42.0
    assert cfg.registry_db_password == "test-only-reg"
    assert cfg.registry_jdbc_url == "jdbc:postgresql://127.0.0.1:6543/apicurio_registry"


def test_default_cluster_id_is_a_base64_uuid():
    assert len(DEFAULT_KAFKA_CLUSTER_ID) == 22
    raw = base64.urlsafe_b64decode(DEFAULT_KAFKA_CLUSTER_ID + "==")
    assert len(raw) == 16 and raw != bytes(16)


def test_state_and_cache_stay_outside_the_repository():
    cfg = StackConfig.from_env({})
    repo = Path(__file__).resolve().parents[3]
    for path in (cfg.state_dir, cfg.cache_dir):
        assert repo not in path.resolve().parents and path.resolve() != repo


def test_a_port_offset_moves_every_port_of_a_second_stack(tmp_path):
    base = StackConfig.from_env({"IOT_STACK_STATE_DIR": str(tmp_path / "a")})
    cfg = StackConfig.from_env(
        {"IOT_STACK_STATE_DIR": str(tmp_path / "b"), "IOT_STACK_PORT_OFFSET": "10000"}
    )
    assert cfg.kafka_bootstrap == "127.0.0.1:39092,127.0.0.1:39093,127.0.0.1:39094"
    assert cfg.kafka_controller_ports == (39192, 39193, 39194)
    assert cfg.registry_url == "http://127.0.0.1:18081/apis/ccompat/v7"
    assert (cfg.mqtt_port, cfg.postgres_port) == (11883, 15432)
    assert (cfg.prometheus_port, cfg.alertmanager_port) == (19090, 19095)
    assert cfg.port(9100) == 19100 and base.port(9100) == 9100
    assert cfg.registry_jdbc_url == "jdbc:postgresql://127.0.0.1:15432/apicurio_registry"


def test_every_service_of_a_shifted_stack_listens_elsewhere(tmp_path):
    from devstack.services import all_services

    base = StackConfig.from_env({"IOT_STACK_STATE_DIR": str(tmp_path / "a")}).with_secrets()
    shifted = StackConfig.from_env(
        {"IOT_STACK_STATE_DIR": str(tmp_path / "b"), "IOT_STACK_PORT_OFFSET": "10000"}
    ).with_secrets()
    base_ports = {p for s in all_services(base) for p in s.ports}
    shifted_ports = {p for s in all_services(shifted) for p in s.ports}
    assert shifted_ports == {p + 10000 for p in base_ports}
    for service in all_services(shifted):
        argv = " ".join(service.argv(shifted))
        assert not [p for p in base_ports - {0} if re.search(rf"(?<!\d){p}(?!\d)", argv)]


def test_passwords_are_generated_once_per_state_dir_and_never_the_old_fixed_ones(tmp_path):
    before = StackConfig.from_env({"IOT_STACK_STATE_DIR": str(tmp_path)})
    assert before.postgres_password == ""  # nothing generated until `up`
    first = before.with_secrets()
    again = StackConfig.from_env({"IOT_STACK_STATE_DIR": str(tmp_path)})
    other = StackConfig.from_env({"IOT_STACK_STATE_DIR": str(tmp_path / "x")}).with_secrets()
    assert first.postgres_password == again.postgres_password
    assert len(first.postgres_password) >= 32
    assert first.postgres_password != other.postgres_password
    assert first.registry_db_password != first.postgres_password
    secrets_file = tmp_path / "secrets" / "stack-secrets.json"
    assert secrets_file.stat().st_mode & 0o777 == 0o600


def test_an_old_secrets_file_gets_the_kafka_passwords_and_rotation_changes_one(tmp_path):
    import json

    from devstack import secrets as stack_secrets
    from devstack.kafka_auth import PRINCIPALS

    path = tmp_path / "secrets" / "stack-secrets.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"postgres_password": "test-only-kept"}))  # before Kafka auth
    cfg = StackConfig.from_env({"IOT_STACK_STATE_DIR": str(tmp_path)}).with_secrets()
    assert cfg.postgres_password == "test-only-kept"
    passwords = {p: cfg.kafka_password(p) for p in PRINCIPALS}
    assert len(set(passwords.values())) == len(PRINCIPALS)
    stack_secrets.rotate(tmp_path, "kafka_iot-sink_password")
    after = StackConfig.from_env({"IOT_STACK_STATE_DIR": str(tmp_path)})
    assert after.kafka_password("iot-sink") != passwords["iot-sink"]
    assert after.kafka_password("iot-adapter") == passwords["iot-adapter"]
    assert after.postgres_password == "test-only-kept"
    assert path.stat().st_mode & 0o777 == 0o600


def test_the_secured_kafka_listener_moves_with_the_offset(tmp_path):
    base = StackConfig.from_env({"IOT_STACK_STATE_DIR": str(tmp_path)})
    assert base.kafka_secure_bootstrap == "127.0.0.1:29392,127.0.0.1:29393,127.0.0.1:29394"
    moved = StackConfig.from_env(
        {"IOT_STACK_STATE_DIR": str(tmp_path), "IOT_STACK_PORT_OFFSET": "100"}
    )
    assert moved.kafka_secure_ports == (29492, 29493, 29494)
