"""Settings of the servers every service talks to: Kafka, the schema registry, MQTT, PostgreSQL,
and logging. Field groups of the one model, :class:`iot_pipeline.config.settings.Settings`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator


class KafkaSettings(BaseModel):
    """Kafka."""

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:29092,127.0.0.1:29093,127.0.0.1:29094",
        description="Comma-separated Kafka bootstrap servers.",
    )
    kafka_topic_name: str = Field("iot-sensor-data", description="Topic of sensor readings.")
    kafka_dlq_topic_name: str = Field(
        "iot-sensor-data-dlq", description="Dead-letter topic for input that cannot be processed."
    )
    kafka_alerts_topic_name: str = Field("iot-sensor-alerts", description="Topic of alert events.")
    kafka_consumer_group_id: str = Field(
        "iot-data-consumer", description="Consumer group of the alert consumer."
    )
    kafka_auto_offset_reset: Literal["earliest", "latest"] = Field(
        "earliest", description="Where a consumer group without committed offsets starts."
    )
    kafka_replication_factor: int = Field(3, ge=1, description="Replication factor of topics.")
    kafka_partitions: int = Field(6, ge=1, description="Partitions of the readings topic.")
    kafka_min_insync_replicas: int = Field(
        2, ge=1, description="min.insync.replicas of topics (acks=all needs this many replicas)."
    )
    kafka_retention_ms: int = Field(
        7 * 24 * 3600 * 1000, ge=-1, description="retention.ms of the readings topic (7 days)."
    )
    kafka_compression_type: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(
        "lz4", description="Producer compression codec."
    )
    kafka_linger_ms: float = Field(
        50.0,
        ge=0,
        description="Producer linger.ms: how long to wait to fill a batch. 50 ms costs that much "
        "latency and saves most of the CPU: smaller batches mean more requests for the brokers "
        "and lock contention in the client (make bench: 2.5x the readings/s of 10 ms for the "
        "simulator and the adapter).",
    )
    kafka_batch_size: int = Field(
        262144, ge=1, description="Producer batch.size in bytes per partition batch."
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT",
        description="How clients talk to the brokers: PLAINTEXT (no authentication: the native "
        "stack's loopback listener), SSL, SASL_PLAINTEXT or SASL_SSL (TLS and a user name and "
        "password: the native stack's secured listener, 29392-29394).",
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism (with a SASL_* protocol)."
    )
    kafka_sasl_username: str | None = Field(
        None, description="The service's Kafka principal (required with a SASL_* protocol)."
    )
    kafka_sasl_password: SecretStr | None = Field(
        None, description="Its SASL password (secret; required with a SASL_* protocol)."
    )
    kafka_ssl_ca_location: Path | None = Field(
        None,
        description="CA bundle that signed the brokers' certificates, with SSL or SASL_SSL "
        "(unset: the system's; the native stack's is <state>/secrets/tls/ca.pem).",
    )

    @model_validator(mode="after")
    def _sasl_needs_a_login(self) -> KafkaSettings:
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"
            )
        return self


class SchemaRegistrySettings(BaseModel):
    """Schema Registry."""

    schema_registry_url: str = Field(
        "http://127.0.0.1:8081/apis/ccompat/v7",
        description=(
            "Schema Registry URL (Confluent REST API): the local stack's Apicurio serves it under "
            "/apis/ccompat/v7; Confluent's registry (Docker Compose) at the root."
        ),
    )
    schema_registry_username: str | None = Field(
        None, description="Registry user name (HTTP Basic auth; unset: no authentication)."
    )
    schema_registry_password: SecretStr | None = Field(
        None, description="Registry password (secret; with SCHEMA_REGISTRY_USERNAME)."
    )
    schema_auto_register: bool = Field(
        True, description="Register the value schema on first use if the subject lacks it."
    )
    schema_compatibility_level: Literal[
        "BACKWARD",
        "BACKWARD_TRANSITIVE",
        "FORWARD",
        "FORWARD_TRANSITIVE",
        "FULL",
        "FULL_TRANSITIVE",
        "NONE",
    ] = Field("BACKWARD", description="Compatibility level set on the value subjects.")
    schema_subject_strategy: Literal[
        "TopicNameStrategy", "RecordNameStrategy", "TopicRecordNameStrategy"
    ] = Field("TopicNameStrategy", description="How value subjects are named.")


class MqttSettings(BaseModel):
    """MQTT."""

    mqtt_broker_host: str = Field("127.0.0.1", description="MQTT broker host.")
    mqtt_broker_port: int = Field(1883, ge=1, le=65535, description="MQTT broker port.")
    mqtt_username: str | None = Field(None, description="MQTT user name (unset: anonymous).")
    mqtt_password: SecretStr | None = Field(None, description="MQTT password (secret).")
    mqtt_tls_enabled: bool = Field(False, description="Connect to the broker with TLS.")
    mqtt_ca_file: Path | None = Field(None, description="CA bundle for MQTT TLS (unset: system).")
    mqtt_topic: str = Field(
        "ruuvitag/data", description="Topic the ESP32 firmware (and simulator) publishes to."
    )


class PostgresSettings(BaseModel):
    """PostgreSQL / TimescaleDB."""

    postgres_host: str = Field("127.0.0.1", description="PostgreSQL host.")
    postgres_port: int = Field(5432, ge=1, le=65535, description="PostgreSQL port.")
    postgres_db: str = Field("iot_data", description="PostgreSQL database.")
    postgres_user: str = Field("iot_user", description="PostgreSQL user.")
    postgres_password: SecretStr | None = Field(
        None, description="PostgreSQL password (secret; required by services that use the DB)."
    )
    postgres_archive_after_days: int = Field(
        30, ge=1, description="Readings older than this move to sensor_readings_archive."
    )
    postgres_retention_days: int = Field(90, ge=1, description="Readings older than this go.")
    postgres_pool_size: int = Field(5, ge=1, description="Database connections kept in the pool.")
    postgres_max_overflow: int = Field(
        10, ge=0, description="Extra database connections allowed beyond the pool under load."
    )
    postgres_schema: str | None = Field(
        None,
        pattern=r"^[a-z_][a-z0-9_]*$",
        description="Schema holding the pipeline's tables (unset: public). TimescaleDB's own "
        "functions stay reachable through public.",
    )
    postgres_migrations_dir: Path | None = Field(
        None,
        description="Folder of the schema migration SQL files (unset: database/migrations of "
        "the source tree; Docker images set it).",
    )


class LoggingSettings(BaseModel):
    """Logging."""

    log_level: Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="Log level."
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="text: readable lines; json: one JSON object per line."
    )
