import json
import random
from datetime import UTC, datetime
from pathlib import Path

from iot_pipeline.ruuvi import decode
from iot_pipeline.simulator.ruuvi_tags import (
    build_gateway_message,
    format_timestamp,
    make_tags,
    next_tag_reading,
)

VECTORS = Path(__file__).resolve().parents[2] / "vectors"


def test_message_matches_the_firmware_contract_exactly():
    example = json.loads((VECTORS / "esp32_gateway_message.json").read_text())["payload"]
    message = build_gateway_message(
        bytes.fromhex(example["raw"]),
        gateway_id=example["gateway_id"],
        gateway_mac=example["gateway_mac"],
        rssi=example["rssi"],
        timestamp=datetime(2026, 11, 23, 13, 37, 0, 123_456, tzinfo=UTC),
    )
    assert list(message) == list(example)
    assert message == example
    assert json.dumps(message) == json.dumps(example)


def test_timestamp_is_utc_milliseconds_with_z():
    moment = datetime(2026, 1, 2, 3, 4, 5, 6_999, tzinfo=UTC)
    assert format_timestamp(moment) == "2026-01-02T03:04:05.006Z"


def test_tags_have_distinct_macs_and_sequences_advance():
    rng = random.Random(7)
    tags = make_tags(20, rng)
    assert len({tag.mac for tag in tags}) == 20
    first = decode(next_tag_reading(tags[0], rng, 0.0))
    second = decode(next_tag_reading(tags[0], rng, 0.0))
    assert first.mac == tags[0].mac
    assert second.measurement_sequence == first.measurement_sequence + 1


def test_sequence_wraps_before_the_not_available_value():
    rng = random.Random(1)
    tag = make_tags(1, rng)[0]
    tag.measurement_sequence = 65533
    assert decode(next_tag_reading(tag, rng, 0.0)).measurement_sequence == 65534
    assert decode(next_tag_reading(tag, rng, 0.0)).measurement_sequence == 0


def test_anomalies_are_far_above_the_temperature_threshold():
    rng = random.Random(3)
    tag = make_tags(1, rng)[0]
    temperatures = [decode(next_tag_reading(tag, rng, 1.0)).temperature for _ in range(50)]
    assert all(t is not None and t >= 60.0 for t in temperatures)
