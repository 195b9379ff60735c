import pytest

from devstack.config import StackConfig
from devstack.pipeline import (
    GATEWAY_EMULATOR,
    SERVICES,
    chosen_services,
    kafka_login,
    service_env,
)
from devstack.summary import STAGES


def test_summary_stages_name_known_services():
    names = {service.name for service in SERVICES}
    assert {stage.service for stage in STAGES} <= names
    ports = [service.metrics_port for service in SERVICES]
    assert len(ports) == len(set(ports))


def test_service_env_points_at_the_local_stack_without_overriding_the_user(monkeypatch):
    monkeypatch.setenv("KAFKA_TOPIC_NAME", "mine")
    monkeypatch.delenv("SCHEMA_REGISTRY_URL", raising=False)
    cfg = StackConfig.from_env()
    env = service_env(cfg)
    assert env["SCHEMA_REGISTRY_URL"] == cfg.registry_url
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:29092,127.0.0.1:29093,127.0.0.1:29094"
    assert env["KAFKA_TOPIC_NAME"] == "mine"


def test_emulator_replaces_the_ruuvi_simulator():
    names = [service.name for service in chosen_services("simulator")]
    assert "ruuvi-simulator" in names
    if GATEWAY_EMULATOR.available():
        emulated = [service.name for service in chosen_services("emulator")]
        assert "gateway-emulator" in emulated and "ruuvi-simulator" not in emulated
    assert GATEWAY_EMULATOR.command()[0].endswith("ruuvi-gateway-emulator")


def test_unknown_ruuvi_source_is_a_clear_error():
    with pytest.raises(ValueError, match="PIPELINE_RUUVI_SOURCE"):
        chosen_services("bluetooth")


def test_the_lake_archiver_keeps_its_lake_in_the_stack_state_dir(monkeypatch):
    monkeypatch.delenv("LAKE_DIR", raising=False)
    cfg = StackConfig.from_env()
    assert service_env(cfg)["LAKE_DIR"] == str(cfg.state_dir / "lake")
    assert "lake-archiver" in {service.name for service in SERVICES}


def test_every_kafka_service_logs_in_on_the_secured_listener_as_its_own_principal(tmp_path):
    import dataclasses

    from devstack.secrets import complete

    cfg = StackConfig.from_env({"IOT_STACK_STATE_DIR": str(tmp_path)})
    cfg = dataclasses.replace(cfg, secrets=complete({}))
    logins = {s.name: kafka_login(cfg, s) for s in SERVICES}
    kafka_users = {name: env for name, env in logins.items() if env}
    assert set(kafka_users) == {
        "simulator",
        "ruuvitag-adapter",
        "alert-consumer",
        "timescaledb-sink",
        "lake-archiver",
    }
    assert logins["ruuvi-simulator"] == {}  # MQTT only
    principals = [env["KAFKA_SASL_USERNAME"] for env in kafka_users.values()]
    assert len(set(principals)) == len(principals)
    for name, env in kafka_users.items():
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", name
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:29392,127.0.0.1:29393,127.0.0.1:29394"
        assert env["KAFKA_SASL_PASSWORD"] == cfg.kafka_password(env["KAFKA_SASL_USERNAME"])
        assert env["KAFKA_SSL_CA_LOCATION"] == str(tmp_path / "secrets" / "tls" / "ca.pem")
