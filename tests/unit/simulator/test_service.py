import json
import random
import threading
from datetime import UTC, datetime
from pathlib import Path

import fastavro
from prometheus_client import CollectorRegistry

from iot_pipeline.config import load_settings
from iot_pipeline.schemas import READING_SCHEMA_FILE, load_schema
from iot_pipeline.simulator.schedule import Schedule
from iot_pipeline.simulator.service import SimulatorMetrics, kafka_source, run, ruuvi_source

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class ListEmitter:
    def __init__(self):
        self.messages = []

    def emit(self, key, message):
        self.messages.append((key, message))

    def close(self):
        return 0


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class AdvancingStop(threading.Event):
    """wait() advances the fake clock instead of sleeping."""

    def __init__(self, clock):
        super().__init__()
        self._clock = clock

    def wait(self, timeout=None):
        self._clock.now += timeout or 0
        return self.is_set()


def test_schedule_orders_devices_by_due_time():
    schedule = Schedule([1.0, 0.5], start=0.0)
    order = [schedule.pop() for _ in range(5)]
    assert order == [0, 1, 1, 0, 1]


def test_schedule_at_interval_zero_is_round_robin():
    schedule = Schedule([0.0, 0.0, 0.0], start=0.0)
    assert [schedule.pop() for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]


def test_run_respects_intervals_and_max_messages():
    settings = load_settings(iot_num_devices=2, iot_data_interval_sec=1.0)
    intervals, source = kafka_source(settings, random.Random(1))
    clock = FakeClock()
    emitter = ListEmitter()
    metrics = SimulatorMetrics(CollectorRegistry())
    emitted = run(emitter, intervals, source, metrics, AdvancingStop(clock), 6, clock, lambda: NOW)
    assert emitted == 6
    assert clock.now == 2.0  # 2 devices x 3 rounds at t = 0, 1, 2
    keys = [key for key, _ in emitter.messages]
    assert keys == ["sim-temperature-001", "sim-humidity-002"] * 3


def test_simulated_records_fit_the_avro_schema():
    settings = load_settings(iot_num_devices=10, iot_anomaly_probability=0.5)
    intervals, source = kafka_source(settings, random.Random(2))
    schema = fastavro.parse_schema(json.loads(load_schema(READING_SCHEMA_FILE)))
    for index in range(len(intervals)):
        _, record, _, _ = source(index, NOW)
        assert fastavro.validation.validate(record, schema, raise_errors=True)


def test_ruuvi_mode_emits_firmware_messages_keyed_by_tag():
    settings = load_settings(iot_num_devices=3, iot_simulator_mode="ruuvi")
    intervals, source = ruuvi_source(settings, random.Random(4))
    key, message, _, kind = source(0, NOW)
    vectors = Path(__file__).resolve().parents[2] / "vectors"
    example = json.loads((vectors / "esp32_gateway_message.json").read_text())["payload"]
    assert list(message) == list(example)
    assert key == message["mac"]
    assert kind == "ruuvitag"
    assert len(intervals) == 3
