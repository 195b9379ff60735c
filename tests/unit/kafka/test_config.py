import pytest

from iot_pipeline.config import SettingsError, load_settings
from iot_pipeline.kafka.config import (
    admin_config,
    client_config,
    consumer_config,
    producer_config,
    security_config,
)


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


# --- security (KAFKA_SECURITY_PROTOCOL and friends) -------------------------------------------


def test_plaintext_adds_nothing():
    settings = load_settings(kafka_security_protocol="PLAINTEXT")
    assert security_config(settings) == {}
    assert admin_config(settings) == {"bootstrap.servers": settings.kafka_bootstrap_servers}


def test_sasl_ssl_logs_in_with_scram_and_trusts_the_ca(tmp_path):
    settings = load_settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="iot-sink",
        kafka_sasl_password="test-only-pw",
        kafka_ssl_ca_location=tmp_path / "ca.pem",
    )
    expected = {
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "iot-sink",
        "sasl.password": "test-only-pw",
        "ssl.ca.location": str(tmp_path / "ca.pem"),
    }
    assert security_config(settings) == expected
    # Every client starts from the same base.
    for config in (
        producer_config(settings, "p"),
        consumer_config(settings, "g", "c"),
        admin_config(settings),
    ):
        assert expected.items() <= config.items()
        assert config["bootstrap.servers"] == settings.kafka_bootstrap_servers


def test_ssl_without_sasl_sends_no_login(tmp_path):
    settings = load_settings(kafka_security_protocol="SSL", kafka_ssl_ca_location=tmp_path)
    assert security_config(settings) == {
        "security.protocol": "ssl",
        "ssl.ca.location": str(tmp_path),
    }


def test_sasl_plaintext_has_no_ca_even_when_set(tmp_path):
    settings = load_settings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_sasl_username="u",
        kafka_sasl_password="p",
        kafka_ssl_ca_location=tmp_path,
    )
    config = security_config(settings)
    assert config["sasl.mechanism"] == "SCRAM-SHA-256"
    assert "ssl.ca.location" not in config


@pytest.mark.parametrize("login", [{}, {"kafka_sasl_username": "u"}, {"kafka_sasl_password": "p"}])
def test_sasl_without_a_full_login_is_refused_clearly(login):
    with pytest.raises(SettingsError) as error:
        load_settings(kafka_security_protocol="SASL_SSL", **login)
    message = str(error.value)
    assert "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD" in message
    assert "p'" not in message and "'p" not in message  # the password is never echoed


def test_an_unknown_protocol_is_refused():
    with pytest.raises(SettingsError, match="KAFKA_SECURITY_PROTOCOL"):
        load_settings(kafka_security_protocol="TLS")


def test_the_secret_is_never_echoed_in_errors(monkeypatch):
    monkeypatch.setenv("POSTGRES_PASSWORD", "very-secret-pg")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "very-secret-kafka")
    with pytest.raises(SettingsError) as error:
        load_settings(kafka_security_protocol="SASL_SSL")
    assert "very-secret" not in str(error.value)


def test_extra_keys_extend_the_base():
    settings = load_settings()
    assert client_config(settings, {"client.id": "x"})["client.id"] == "x"
