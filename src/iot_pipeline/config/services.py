"""Settings of each service (simulator, adapter, sink, alert consumer, lake archiver). Field
groups of the one model, :class:`iot_pipeline.config.settings.Settings`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import NoDecode

SIMULATED_DEVICE_TYPES = ("temperature", "humidity", "pressure", "motion", "light")

CommaList = Annotated[list[str], NoDecode]


def _default_anomaly_thresholds() -> dict[str, tuple[float | None, float | None]]:
    return {
        "temperature": (-50.0, 50.0),
        "humidity": (15.0, 100.0),
        "pressure": (87000.0, 108500.0),
        "battery": (2.0, None),
    }


class SimulatorSettings(BaseModel):
    """Simulator (run_producer.py)."""

    iot_num_devices: int = Field(8, ge=1, description="Number of simulated devices (or tags).")
    iot_data_interval_sec: float = Field(
        1.0, ge=0, description="Seconds between readings of one device; 0 = as fast as possible."
    )
    iot_device_types: CommaList = Field(
        default_factory=lambda: list(SIMULATED_DEVICE_TYPES),
        description="Comma-separated simulated device types.",
    )
    iot_anomaly_probability: float = Field(
        0.05, ge=0, le=1, description="Probability that a simulated reading is an anomaly."
    )
    iot_devices_file: Path | None = Field(
        None, description="Optional JSON/YAML file describing each simulated device."
    )
    iot_simulator_mode: Literal["kafka", "ruuvi"] = Field(
        "kafka",
        description="kafka: Avro readings to Kafka; ruuvi: firmware-format JSON to MQTT.",
    )
    iot_ruuvi_formats: CommaList = Field(
        default_factory=lambda: ["5"],
        description="ruuvi mode: data formats of the simulated tags, given to tags in turn: 5 "
        "or 3 (RuuviTag, RAWv2/RAWv1), E1 or 6 (Ruuvi Air, BLE 5/BLE 4), 6+E1 (a Ruuvi Air heard "
        "in both). E.g. 5,5,E1,3.",
    )
    iot_max_readings: int | None = Field(
        None, ge=1, description="Stop after this many readings (unset: run until stopped)."
    )
    iot_random_seed: int | None = Field(
        None, description="Seed for reproducible simulations (unset: random)."
    )
    simulator_metrics_port: int = Field(8000, ge=0, le=65535, description="Simulator metrics port.")


class AdapterSettings(BaseModel):
    """RuuviTag adapter (run_ruuvitag_adapter.py)."""

    adapter_metrics_port: int = Field(8002, ge=0, le=65535, description="Adapter metrics port.")
    adapter_mqtt_topics: CommaList = Field(
        default_factory=lambda: ["ruuvitag/data", "ruuvitag/status/+", "ruuvi/+/+"],
        description="Comma-separated topic filters the adapter subscribes to with QoS 1 "
        "(wildcards and shared subscriptions `$share/<group>/<filter>` allowed).",
    )
    adapter_mqtt_client_id: str = Field(
        "ruuvitag-adapter",
        min_length=1,
        description="MQTT client id; names the persistent session, so unique per adapter process.",
    )
    adapter_mqtt_session_expiry_sec: int = Field(
        7 * 24 * 3600,
        ge=0,
        description="MQTT 5 session expiry: how long the broker keeps the session and queues "
        "QoS 1 messages while the adapter is away.",
    )
    adapter_mqtt_receive_maximum: int = Field(
        10000,
        ge=1,
        le=65535,
        description="MQTT 5 Receive Maximum: unacknowledged QoS 1 messages the broker may send "
        "(the adapter's back-pressure; the rest waits in the broker's queue).",
    )
    adapter_status_topic_prefix: str = Field(
        "ruuvitag/status/", description="Topic prefix of the firmware's gateway status messages."
    )
    adapter_max_payload_bytes: int = Field(
        4096, ge=64, description="Larger MQTT payloads go to the dead-letter topic (oversize)."
    )
    adapter_max_future_sec: float = Field(
        300.0, ge=0, description="Reading timestamps further ahead of the receive time are invalid."
    )
    adapter_max_past_sec: float = Field(
        7 * 24 * 3600.0,
        ge=0,
        description="Reading timestamps older than this (relative to receive time) are invalid.",
    )
    adapter_dedup_window_sec: float = Field(
        10.0,
        ge=0,
        description="The same tag and measurement sequence within this window is published once.",
    )
    adapter_dedup_max_entries: int = Field(
        100_000, ge=1, description="Measurements the duplicate filter remembers at most."
    )
    adapter_anomaly_thresholds: dict[str, tuple[float | None, float | None]] = Field(
        default_factory=_default_anomaly_thresholds,
        description="JSON object sensor -> [low, high] (null: unbounded); values outside are "
        "flagged is_anomaly.",
    )
    adapter_battery_empty_volts: float = Field(
        2.0, gt=0, description="Battery voltage reported as 0 % battery_level."
    )
    adapter_battery_full_volts: float = Field(
        3.0, gt=0, description="Battery voltage reported as 100 % battery_level."
    )
    adapter_derived_values: bool = Field(
        True,
        description="Also publish derived records: dew_point (°C) and absolute_humidity (g/m³) "
        "for every tag with temperature and humidity, air_quality_index (Ruuvi IAQS 0..100) for "
        "Ruuvi Air (iot_pipeline.ruuvi.derived).",
    )


class SinkSettings(BaseModel):
    """TimescaleDB sink (run_timescaledb_sink.py)."""

    data_sink_batch_size: int = Field(
        5000,
        ge=1,
        description="Most rows per database transaction (a batch is written when full, or after "
        "DATA_SINK_COMMIT_INTERVAL).",
    )
    data_sink_commit_interval: float = Field(
        1.0, gt=0, description="Seconds after which a partial batch is written anyway."
    )
    data_sink_write_when_caught_up: bool = Field(
        True,
        description="Also write a partial batch as soon as the sink has read everything waiting "
        "(latency-aware batching): at light load each reading is stored within milliseconds, "
        "one transaction per poll; under a backlog batches still fill up to "
        "DATA_SINK_BATCH_SIZE. False: only full batches or DATA_SINK_COMMIT_INTERVAL.",
    )
    sink_consumer_group_id: str = Field(
        "iot-timescaledb-sink", description="Consumer group of the TimescaleDB sink."
    )
    sink_session_timeout: float = Field(
        10.0,
        ge=6,
        le=300,
        description="Seconds before a crashed sink's partitions go to another instance, or to "
        "its own restart (Kafka session timeout; make chaos: a SIGKILLed sink's rows resume "
        "about this long after its restart). Heartbeats run on their own thread, so slow "
        "database writes do not count against it.",
    )
    sink_metrics_port: int = Field(8003, ge=0, le=65535, description="Sink metrics port.")
    sink_workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Sink worker processes, each a member of the sink's consumer group (one "
        "writer per partition group) under one supervisor that serves all their metrics on "
        "SINK_METRICS_PORT with a worker label. Measured with make bench sink.",
    )
    data_sink_write_method: Literal["copy", "copy_staging", "values"] = Field(
        "copy",
        description="copy: COPY into the table, falling back to copy_staging for a batch with "
        "stored rows; copy_staging: COPY into a staging table + INSERT ON CONFLICT; values: "
        "multi-row INSERT ON CONFLICT. All idempotent; copy measured fastest.",
    )
    data_sink_copy_format: Literal["binary", "text"] = Field(
        "binary",
        description="COPY format of the copy methods. binary: each decoded reading is checked "
        "and encoded straight to PostgreSQL's binary COPY format (measured faster, make bench "
        "sink); text: a row tuple per reading, then COPY text (the earlier path). The values "
        "method always sends row tuples.",
    )
    data_sink_transcode: bool = Field(
        True,
        description="With the binary COPY format: read the Avro body of each reading written "
        "with the packaged schema straight into its binary COPY tuple (one pass, measured "
        "faster, make bench sink); readings of any other writer schema, and uncommon ones, are "
        "decoded and encoded the general way, with the same rejections. False: always decode "
        "with fastavro, then encode (the earlier path).",
    )
    data_sink_write_in_background: bool = Field(
        True,
        description="Write each batch on a thread of its own while the next batch is read and "
        "decoded (one write in flight; batches still committed in order, each after its "
        "transaction). False: decode, then write, one after the other. Measured with make "
        "bench sink.",
    )
    data_sink_maintenance_interval: float = Field(
        300.0,
        gt=0,
        description="Seconds between maintenance runs: aggregate refresh (Apache edition), "
        "archiving and retention.",
    )
    data_sink_retry_max_backoff: float = Field(
        30.0, gt=0, description="Longest wait between database retries while it is unreachable."
    )


class AlertConsumerSettings(BaseModel):
    """Alert consumer (run_consumer.py)."""

    alerts_metrics_port: int = Field(
        8001, ge=0, le=65535, description="Alert consumer metrics port."
    )
    alerts_tick_interval: float = Field(
        5.0, gt=0, description="Seconds between timer evaluations (silence) of the alert consumer."
    )
    alerts_silence_timeout: float = Field(
        120.0, gt=0, description="Seconds without a reading before a device is reported silent."
    )
    alerts_clear_after: int = Field(
        3, ge=1, description="Consecutive clear evaluations before an open alert resolves."
    )
    alerts_rate_window: float = Field(
        300.0,
        gt=0,
        description="Seconds of readings the rate-of-change trend is measured over (it is judged "
        "once they span half of it).",
    )
    alerts_zscore_window: int = Field(
        60, ge=2, description="Readings in the rolling baseline of the statistical rule."
    )
    alerts_zscore_warmup: int = Field(
        20, ge=2, description="Readings a device needs before the statistical rule evaluates."
    )
    alerts_zscore_threshold: float = Field(
        5.0, gt=0, description="Statistical rule fires beyond this many standard deviations."
    )
    alerts_zscore_clear: float = Field(
        2.5, gt=0, description="Statistical rule clears within this many standard deviations."
    )
    alerts_lost_packets_window: int = Field(
        100, ge=1, description="RuuviTag packets over which the loss rate is measured."
    )
    alerts_lost_packets_rate: float = Field(
        0.2, ge=0, lt=1, description="Loss rate (lost / expected packets) that fires lost_packets."
    )
    alerts_lost_packets_clear_rate: float = Field(
        0.1, ge=0, lt=1, description="Loss rate at or below which lost_packets clears."
    )
    alerts_rule_overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per sensor kind rule limits as JSON, e.g. "
        '{"temperature": {"high": 8, "hysteresis": 0.5, "stuck_readings": 30}}; keys: low, '
        "high, hysteresis, threshold_severity, max_rate_per_hour, stuck_readings, statistical, "
        "min_std.",
    )
    alerts_batch_size: int = Field(
        500, ge=1, description="Most readings the alert consumer handles per poll."
    )
    alerts_session_timeout: float = Field(
        45.0,
        ge=6,
        le=300,
        description="Seconds before a crashed alert consumer's partitions go to another instance "
        "(Kafka session timeout).",
    )
    alerts_restore_timeout: float = Field(
        60.0, gt=0, description="Seconds allowed to read open alerts back from the alerts topic."
    )


class LakeSettings(BaseModel):
    """Lake archiver (run_lake_archiver.py, python -m iot_pipeline.lake)."""

    lake_catalog_type: Literal["sql", "rest"] = Field(
        "sql",
        description="Iceberg catalog: sql (pyiceberg SQL catalog in a database, embedded by "
        "default) or rest (an Iceberg REST catalog service).",
    )
    lake_catalog_uri: str | None = Field(
        None,
        description="sql: SQLAlchemy URL of the catalog database (unset: SQLite file catalog.db "
        "in LAKE_DIR); rest: the REST catalog's URL.",
    )
    lake_dir: Path = Field(
        Path("lake"),
        description="Folder of the embedded lake: the SQLite catalog and the local warehouse "
        "(make run: <stack state dir>/lake).",
    )
    lake_warehouse: str | None = Field(
        None,
        description="Warehouse location (unset: LAKE_DIR/warehouse on the local filesystem); "
        "s3://bucket/prefix for an S3-compatible store (see LAKE_S3_ENDPOINT).",
    )
    lake_s3_endpoint: str | None = Field(
        None, description="Endpoint of an S3-compatible store (unset: AWS S3)."
    )
    lake_s3_access_key_id: str | None = Field(None, description="S3 access key id.")
    lake_s3_secret_access_key: SecretStr | None = Field(
        None, description="S3 secret access key (secret)."
    )
    lake_s3_region: str = Field("us-east-1", description="S3 region.")
    lake_table: str = Field(
        "iot.sensor_readings",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$",
        description="Iceberg table of the readings, namespace.name.",
    )
    lake_consumer_group_id: str = Field(
        "iot-lake-archiver",
        description="Consumer group of the archiver; also the key of the Kafka offsets kept in "
        "the table's snapshots.",
    )
    lake_metrics_port: int = Field(8005, ge=0, le=65535, description="Archiver metrics port.")
    lake_roll_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1,
        description="Buffered readings (Arrow bytes in memory) at which the archiver writes a "
        "file set and commits; Parquet files come out several times smaller.",
    )
    lake_roll_interval: float = Field(
        300.0,
        gt=0,
        description="Seconds after which buffered readings are written and committed anyway "
        "(each commit adds a file per day partition; `maintain` compacts them).",
    )
    lake_target_file_bytes: int = Field(
        128 * 1024 * 1024,
        ge=1024,
        description="Target data file size (table property write.target-file-size-bytes; "
        "compaction merges smaller files up to it).",
    )
    lake_compact_min_files: int = Field(
        4, ge=2, description="A day partition with this many small files or more is compacted."
    )
    lake_snapshot_max_age_hours: float = Field(
        7 * 24.0, gt=0, description="`maintain` expires snapshots older than this."
    )
    lake_snapshot_retain_last: int = Field(
        10, ge=1, description="`maintain` keeps at least this many most recent snapshots."
    )
    lake_maintenance_interval: float = Field(
        3600.0,
        ge=0,
        description="Seconds between the archiver's own maintenance runs (the same as "
        "`python -m iot_pipeline.lake maintain`); 0: none (run the command from cron instead).",
    )
