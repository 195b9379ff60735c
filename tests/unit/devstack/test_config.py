import base64
from pathlib import Path

from devstack.config import DEFAULT_KAFKA_CLUSTER_ID, StackConfig


def test_defaults_are_the_documented_loopback_ports():
    cfg = StackConfig.from_env({"HOME": "/home/someone"})
    assert cfg.kafka_bootstrap == "127.0.0.1:29092,127.0.0.1:29093,127.0.0.1:29094"
    assert cfg.registry_url == "http://127.0.0.1:8081/apis/ccompat/v7"
    assert (cfg.mqtt_port, cfg.postgres_port, cfg.prometheus_port) == (1883, 5432, 9090)
    assert cfg.alertmanager_port == 9095
    assert cfg.postgres_dsn == "postgresql://iot_user:iot_password@127.0.0.1:5432/iot_data"
    assert cfg.registry_jdbc_url == "jdbc:postgresql://127.0.0.1:5432/apicurio_registry"
    assert (cfg.registry_db, cfg.registry_db_user) == ("apicurio_registry", "apicurio_registry")
    assert len(set(cfg.kafka_ports + cfg.kafka_controller_ports)) == 6


def test_versions_come_from_the_pinned_pom():
    cfg = StackConfig.from_env({})
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
            "POSTGRES_PASSWORD": "s3cret",
            "KAFKA_CLUSTER_ID": "MkU3OEVBNTcwNTJENDM2Qk",
            "IOT_STACK_UP_TIMEOUT": "42",
            "REGISTRY_DB_PASSWORD": "reg-pw",
        }
    )
    assert cfg.state_dir == tmp_path / "state"
    assert cfg.logs_dir == tmp_path / "state" / "logs"
    assert cfg.kafka_home.parent == tmp_path / "cache"
    assert cfg.postgres_dsn == "postgresql://iot_user:s3cret@127.0.0.1:6543/iot_data"
    assert cfg.kafka_cluster_id == "MkU3OEVBNTcwNTJENDM2Qk"
    assert cfg.up_timeout_s == 42.0
    assert cfg.registry_db_password == "reg-pw"
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
