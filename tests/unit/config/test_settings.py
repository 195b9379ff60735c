from pathlib import Path

import pytest

from iot_pipeline.config import SettingsError, load_settings
from iot_pipeline.config.docs import render_configuration_reference
from iot_pipeline.config.settings import Settings

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    # A developer's own environment or .env must not leak into these tests.
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("IOT_CONFIG_FILE", raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_the_seed_design_values():
    settings = load_settings()
    assert settings.kafka_topic_name == "iot-sensor-data"
    assert settings.kafka_partitions == 6
    assert settings.kafka_replication_factor == 3
    assert settings.iot_num_devices == 8
    assert settings.iot_data_interval_sec == 1.0
    assert settings.iot_device_types == ["temperature", "humidity", "pressure", "motion", "light"]
    assert settings.iot_anomaly_probability == 0.05
    assert settings.schema_compatibility_level == "BACKWARD"
    assert settings.schema_subject_strategy == "TopicNameStrategy"


def test_environment_overrides_and_comma_lists(monkeypatch):
    monkeypatch.setenv("KAFKA_TOPIC_NAME", "other")
    monkeypatch.setenv("IOT_DEVICE_TYPES", "temperature, light")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = load_settings()
    assert settings.kafka_topic_name == "other"
    assert settings.iot_device_types == ["temperature", "light"]
    assert settings.log_level == "DEBUG"


def test_dotenv_file_is_read(tmp_path):
    (tmp_path / ".env").write_text("IOT_NUM_DEVICES=3\n")
    assert load_settings().iot_num_devices == 3


def test_yaml_file_sits_below_the_environment(monkeypatch, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("iot_num_devices: 5\nkafka_partitions: 12\n")
    monkeypatch.setenv("IOT_CONFIG_FILE", str(config))
    monkeypatch.setenv("KAFKA_PARTITIONS", "9")
    settings = load_settings()
    assert settings.iot_num_devices == 5
    assert settings.kafka_partitions == 9


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KAFKA_PARTITIONS", "zero"),
        ("KAFKA_PARTITIONS", "0"),
        ("IOT_ANOMALY_PROBABILITY", "1.5"),
        ("IOT_DEVICE_TYPES", "temperature,plasma"),
        ("KAFKA_AUTO_OFFSET_RESET", "middle"),
        ("SCHEMA_COMPATIBILITY_LEVEL", "SOMETIMES"),
        ("MQTT_BROKER_PORT", "70000"),
    ],
)
def test_invalid_value_names_the_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        load_settings()


def test_secrets_are_not_shown(monkeypatch):
    monkeypatch.setenv("POSTGRES_PASSWORD", "hunter2")
    settings = load_settings()
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.model_dump())
    assert "hunter2" in settings.postgres_url()


def test_postgres_url_without_password_is_a_clear_error():
    with pytest.raises(SettingsError, match="POSTGRES_PASSWORD"):
        load_settings().postgres_url()


def test_configuration_reference_is_in_step_with_the_model():
    documented = (REPO / "docs" / "configuration.md").read_text()
    assert documented == render_configuration_reference(), (
        "docs/configuration.md is stale: run "
        "`python -m iot_pipeline.config docs > docs/configuration.md`"
    )


def test_services_exit_2_naming_the_variable(monkeypatch, capsys):
    from iot_pipeline.config import load_settings_or_exit

    monkeypatch.setenv("KAFKA_PARTITIONS", "many")
    with pytest.raises(SystemExit) as exited:
        load_settings_or_exit("sink")
    assert exited.value.code == 2
    assert "sink: invalid configuration" in capsys.readouterr().err
