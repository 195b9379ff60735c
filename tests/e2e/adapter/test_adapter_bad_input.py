"""At least 1,000 hypothesis-generated malformed payloads, interleaved with valid readings, go
through the real adapter: every bad one lands in the dead-letter topic with its original bytes
and the reason it was built to have, every valid one reaches Kafka, and the adapter runs on."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from iot_pipeline.ruuvi import RuuviReading
from tests.e2e.adapter.harness import (
    firmware_message,
    keys_of,
    read_dead_letters,
    read_records,
)

pytestmark = pytest.mark.e2e

MAC = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$")
VALID_TAG = "C0:FF:EE:00:00:01"
NUMERIC = [
    "temperature",
    "humidity",
    "pressure",
    "acceleration_x",
    "battery",
    "rssi",
    "movement_counter",
    "measurement_sequence",
    "tx_power",
]
RANGES = {
    "temperature": (-163.835, 163.835),
    "humidity": (0.0, 163.835),
    "pressure": (50000, 115534),
    "acceleration_x": (-32.767, 32.767),
    "acceleration_y": (-32.767, 32.767),
    "acceleration_z": (-32.767, 32.767),
    "battery": (1.6, 3.646),
    "tx_power": (-40, 20),
    "movement_counter": (0, 254),
    "measurement_sequence": (0, 65534),
}
INT_FIELDS = {"pressure", "tx_power", "movement_counter", "measurement_sequence"}
BASE_READING = RuuviReading(
    5, 21.5, 45.0, 100000, 0.01, -0.02, 1.0, 4, 2.9, 10, 1, "C0:FF:EE:00:00:02"
)


def _is_standard_json(data: bytes) -> bool:
    def refuse(_: str) -> Any:
        raise ValueError

    try:
        json.loads(data.decode("utf-8"), parse_constant=refuse)
    except (ValueError, RecursionError):
        return False
    return True


def _base() -> dict[str, Any]:
    return firmware_message(BASE_READING)


def _dump(message: Any) -> bytes:
    return json.dumps(message).encode()


not_json = (
    st.binary(min_size=0, max_size=120)
    .filter(lambda b: not _is_standard_json(b))
    .map(lambda b: (b, "not_json"))
)
json_not_object = st.one_of(
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=5),
).map(lambda v: (_dump(v), "schema"))


@st.composite
def wrong_type(draw: st.DrawFn) -> tuple[bytes, str]:
    message = _base()
    field = draw(st.sampled_from([*NUMERIC, "gateway_id", "raw", "mac"]))
    if field in ("gateway_id", "raw", "mac"):
        message[field] = draw(
            st.one_of(st.integers(), st.booleans(), st.lists(st.text(), max_size=2))
        )
    else:
        message[field] = draw(
            st.one_of(st.text(max_size=10), st.booleans(), st.lists(st.integers(), max_size=2))
        )
    return _dump(message), "schema"


@st.composite
def missing_required(draw: st.DrawFn) -> tuple[bytes, str]:
    message = _base()
    del message[draw(st.sampled_from(["gateway_id", "mac"]))]
    return _dump(message), "schema"


@st.composite
def out_of_range(draw: st.DrawFn) -> tuple[bytes, str]:
    message = _base()
    del message["raw"]
    field = draw(st.sampled_from(sorted(RANGES)))
    low, high = RANGES[field]
    if field in INT_FIELDS:
        value: float = draw(
            st.one_of(
                st.integers(max_value=int(low) - 1), st.integers(min_value=int(high) + 1)
            ).filter(lambda v: abs(v) < 2**53)
        )
    else:
        value = draw(
            st.one_of(
                st.floats(min_value=-1e300, max_value=low).filter(lambda v: v < low),
                st.floats(min_value=high, max_value=1e300).filter(lambda v: v > high),
            )
        )
    message[field] = value
    return _dump(message), "out_of_range"


@st.composite
def decode_mismatch(draw: st.DrawFn) -> tuple[bytes, str]:
    message = _base()
    field = draw(st.sampled_from(sorted(RANGES)))
    low, high = RANGES[field]
    original = message[field]
    if field in INT_FIELDS:
        value: float = draw(st.integers(int(low), int(high)).filter(lambda v: v != original))
    else:
        value = draw(st.floats(low, high).filter(lambda v: v != original))
    message[field] = value
    return _dump(message), "decode_mismatch"


@st.composite
def unknown_format(draw: st.DrawFn) -> tuple[bytes, str]:
    message = _base()
    # Formats 3, 6 and E1 (225) are decoded too: stating one of them over a Format 5 payload is a
    # decode_mismatch, and a Format 5-sized payload of theirs bad_raw_data (test_adapter_formats).
    fmt = draw(st.integers(0, 255).filter(lambda v: v not in (3, 5, 6, 0xE1)))
    if draw(st.booleans()):
        message["data_format"] = fmt
    else:
        message["raw"] = f"{fmt:02X}" + message["raw"][2:]
    return _dump(message), "unknown_format"


@st.composite
def bad_mac(draw: st.DrawFn) -> tuple[bytes, str]:
    message = _base()
    field = draw(st.sampled_from(["mac", "gateway_mac"]))
    message[field] = draw(st.text(max_size=30).filter(lambda s: not MAC.match(s)))
    if field == "mac":
        del message["raw"]  # otherwise the raw data's MAC would be compared first
    return _dump(message), "bad_mac"


@st.composite
def bad_timestamp(draw: st.DrawFn) -> tuple[bytes, str]:
    message = _base()
    now = datetime.now(UTC)
    offset = draw(
        st.one_of(
            st.integers(15 * 60, 10 * 365 * 86400),  # well into the future
            st.integers(-30 * 365 * 86400, -8 * 86400),  # long past
        )
    )
    form = draw(st.sampled_from(["iso", "seconds", "millis", "naive", "garbage"]))
    moment = now + timedelta(seconds=offset)
    if form == "iso":
        message["timestamp"] = moment.isoformat()
    elif form == "seconds":
        message["timestamp"] = int(moment.timestamp())
    elif form == "millis":
        message["timestamp"] = int(moment.timestamp() * 1000)
    elif form == "naive":
        message["timestamp"] = now.replace(tzinfo=None).isoformat()
    else:
        message["timestamp"] = draw(st.text(alphabet="abcxyz:-T ", min_size=1, max_size=20))
    return _dump(message), "bad_timestamp"


@st.composite
def bad_raw(draw: st.DrawFn) -> tuple[bytes, str]:
    message = _base()
    if draw(st.booleans()):
        digits = draw(st.integers(0, 60).filter(lambda n: n != 23)) * 2
        message["raw"] = "05" + draw(
            st.text(alphabet="0123456789ABCDEF", min_size=digits, max_size=digits)
        )
    else:
        raw = message["raw"]
        i = draw(st.integers(0, len(raw) - 1))
        message["raw"] = raw[:i] + draw(st.sampled_from("GXZ-. g")) + raw[i + 1 :]
    return _dump(message), "bad_raw_data"


@st.composite
def oversize(draw: st.DrawFn) -> tuple[bytes, str]:
    message = _base()
    message["padding"] = "x" * draw(st.integers(4200, 20000))
    return _dump(message), "oversize"


def gateway_not_ruuvi(topic: str) -> st.SearchStrategy[tuple[bytes, str, str]]:
    def build(company: int, body: bytes) -> tuple[bytes, str, str]:
        data = bytes([2, 1, 6, len(body) + 3, 0xFF, company & 0xFF, company >> 8]) + body
        return (
            _dump({"gw_mac": "C8:25:2D:8E:9C:2C", "rssi": -50, "data": data.hex()}),
            "not_ruuvi",
            topic,
        )

    return st.builds(
        build, st.integers(0, 0xFFFF).filter(lambda c: c != 0x0499), st.binary(max_size=20)
    )


def test_malformed_payloads_go_to_the_dlq_and_valid_ones_still_arrive(
    adapter_env, start_adapter, publisher_factory
) -> None:
    adapter = start_adapter(adapter_env)
    adapter.wait_connected()
    publisher = publisher_factory(adapter_env.mqtt_port)
    data_topic = adapter_env.data_topic
    gw_topic = adapter_env.gateway_topic("C8:25:2D:8E:9C:2C", "E3:75:CF:37:4E:23")
    bad: Counter[tuple[bytes, str]] = Counter()
    valid_keys: set[tuple[str, int]] = set()

    firmware_bad = st.one_of(
        not_json,
        json_not_object,
        wrong_type(),
        missing_required(),
        out_of_range(),
        decode_mismatch(),
        unknown_format(),
        bad_mac(),
        bad_timestamp(),
        bad_raw(),
        oversize(),
    ).map(lambda pair: (*pair, data_topic))
    malformed = st.one_of(firmware_bad, gateway_not_ruuvi(gw_topic))

    @settings(
        max_examples=1100,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(malformed)
    def publish(case: tuple[bytes, str, str]) -> None:
        payload, reason, topic = case
        publisher.publish(topic, payload)
        bad[(payload, reason)] += 1
        if sum(bad.values()) % 10 == 0:  # a valid reading after every ten bad ones
            sequence = len(valid_keys)
            reading = RuuviReading(
                5,
                20.0 + sequence / 100,
                50.0,
                101325,
                0.0,
                0.0,
                1.0,
                4,
                3.0,
                sequence % 255,
                sequence,
                VALID_TAG,
            )
            publisher.publish(data_topic, firmware_message(reading))
            valid_keys.add((f"{VALID_TAG.lower()}_temperature", sequence))

    publish()
    total_bad = sum(bad.values())
    assert total_bad >= 1000
    assert set(reason for _, reason in bad) >= {
        "not_json",
        "schema",
        "out_of_range",
        "decode_mismatch",
        "unknown_format",
        "bad_mac",
        "bad_timestamp",
        "bad_raw_data",
        "oversize",
        "not_ruuvi",
    }
    publisher.wait_all()

    letters = read_dead_letters(adapter_env.settings, adapter_env.dlq_topic, total_bad)
    got = Counter((value, headers["reason"].decode()) for value, headers in letters)
    assert got == bad
    for _, headers in letters:
        assert headers["mqtt_topic"].decode() in (data_topic, gw_topic)
        assert headers["error"]
        assert datetime.fromisoformat(headers["received_at"].decode()).tzinfo is not None

    records = read_records(adapter_env.settings, adapter_env.topic, expected=9 * len(valid_keys))
    assert len(records) == 9 * len(valid_keys)
    temperature = {k for k in keys_of(records) if k[0].endswith("_temperature")}
    assert temperature == valid_keys

    assert adapter.alive()
    metrics = adapter.metrics()
    dead = sum(v for k, v in metrics.items() if k.startswith("mqtt_adapter_dead_letters_total{"))
    assert dead == total_bad
    assert adapter.stop() == 0
