"""Telegraf for the peers bench: the binary (built by bench/telegraf_build.sh, cached outside the
repository), its two configurations and the process.

The configurations are what a user would write for the same job, tuned fairly: batches as large
as the project's (``metric_batch_size``), a window of undelivered messages large enough to keep
the pipe full (``max_undelivered_messages``), a short flush interval, acks=all like the adapter.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.adapter_process import bench_login

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "bench" / "telegraf_build.sh"
MQTT_WINDOW = int(os.environ.get("BENCH_TELEGRAF_MQTT_WINDOW", "10000"))
KAFKA_WINDOW = int(os.environ.get("BENCH_TELEGRAF_KAFKA_WINDOW", "20000"))


def telegraf_binary() -> Path:
    """Builds Telegraf the first time (a few minutes), then returns the cached binary."""
    out = subprocess.run([str(BUILD)], check=True, capture_output=True, text=True, timeout=3600)
    return Path(out.stdout.strip().splitlines()[-1])


def _agent(batch: int, window: int) -> str:
    return f"""[agent]
  interval = "10s"
  flush_interval = "100ms"
  flush_jitter = "0s"
  metric_batch_size = {batch}
  metric_buffer_limit = {max(window * 2, batch * 4)}
  omit_hostname = true
  quiet = false
"""


def mqtt_to_kafka_config(
    mqtt_port: int, topic_filter: str, client_id: str, brokers: list[str], kafka_topic: str
) -> str:
    """inputs.mqtt_consumer (QoS 1, persistent session, acknowledged after delivery) ->
    outputs.kafka (acks=all), JSON in and out: the same job as the adapter minus validation."""
    servers = ", ".join(f'"{b}"' for b in brokers)
    return (
        _agent(1000, MQTT_WINDOW)
        + f"""
[[inputs.mqtt_consumer]]
  servers = ["tcp://127.0.0.1:{mqtt_port}"]
  topics = ["{topic_filter}"]
  qos = 1
  client_id = "{client_id}"
  username = "${{BENCH_MQTT_USERNAME}}"
  password = "${{BENCH_MQTT_PASSWORD}}"
  persistent_session = true
  max_undelivered_messages = {MQTT_WINDOW}
  data_format = "json"
  json_string_fields = ["data", "gw_mac", "coords"]

[[outputs.kafka]]
  brokers = [{servers}]
  topic = "{kafka_topic}"
  required_acks = -1
  max_retry = 3
  data_format = "json"
"""
    )


def kafka_to_postgres_config(
    brokers: list[str], topic: str, group: str, registry: str, dsn: str, schema: str, batch: int
) -> str:
    """inputs.kafka_consumer with the Avro parser and the schema registry -> outputs.postgresql
    (which writes with COPY into a table it creates), batches the size of the sink's. The Avro
    parser hands the timestamp-millis field over as Go's time.Time text, hence the layout."""
    servers = ", ".join(f'"{b}"' for b in brokers)
    return (
        _agent(batch, KAFKA_WINDOW)
        + f"""
[[inputs.kafka_consumer]]
  brokers = [{servers}]
  topics = ["{topic}"]
  consumer_group = "{group}"
  offset = "oldest"
  max_undelivered_messages = {KAFKA_WINDOW}
  data_format = "avro"
  avro_schema_registry = "{registry}"
  avro_measurement = "sensor_readings"
  avro_tags = ["device_id"]
  avro_union_mode = "nullable"

[[outputs.postgresql]]
  connection = "{dsn}"
  schema = "{schema}"
  timestamp_column_type = "timestamp with time zone"
"""
    )


@dataclass
class TelegrafProcess:
    """One Telegraf process on a configuration file; its output goes to ``log``."""

    binary: Path
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> TelegrafProcess:
        """Started with the bench's MQTT login in its environment (the configuration names the
        variables, so the password is neither printed nor written to a file)."""
        user, password = bench_login()
        env = {**os.environ, "BENCH_MQTT_USERNAME": user, "BENCH_MQTT_PASSWORD": password}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(self.binary), "--config", str(self.config), "--debug"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu_seconds(self) -> float | None:
        if self.proc is None:
            return None
        try:
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        except OSError:
            return None
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def logged(self, text: str) -> bool:
        return text in self.log.read_text(errors="replace") if self.log.exists() else False

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(Exception):
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
