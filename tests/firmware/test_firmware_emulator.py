"""The host gateway emulator publishes exactly what the firmware would.

Offline (--stdout): the message for the shared example's advertisement equals the example payload
in every field but the timestamp (the emulator stamps the real time, as the firmware does after
SNTP). Integration: against the real Mosquitto of the local stack, data arrives at QoS 1 on the
topic and the status topic carries the retained online/offline messages.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from pathlib import Path as _Path
from typing import Any

import pytest

from tests.conftest import stack_mqtt_credentials

VECTORS = _Path(__file__).resolve().parents[1] / "vectors"


def example_args(example: dict[str, Any]) -> list[str]:
    payload = example["payload"]
    return [
        "--gateway-id",
        payload["gateway_id"],
        "--gateway-mac",
        payload["gateway_mac"],
        "--rssi",
        str(payload["rssi"]),
    ]


def assert_like_example(message: dict[str, Any], example_payload: dict[str, Any]) -> None:
    assert list(message) == list(example_payload)  # the firmware's field order
    stamped = datetime.strptime(message["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - stamped).total_seconds()) < 120
    assert {k: v for k, v in message.items() if k != "timestamp"} == {
        k: v for k, v in example_payload.items() if k != "timestamp"
    }


def test_stdout_messages_match_the_shared_example(firmware_tools, gateway_example, tmp_path: Path):
    adverts = tmp_path / "adverts.txt"
    payload = gateway_example["payload"]
    adverts.write_text(
        f"# tag MAC, RSSI, advertisement\n{payload['mac']} -67 0201061BFF9904{payload['raw']}\n"
    )
    result = subprocess.run(
        [
            str(firmware_tools.emulator),
            "--input",
            str(adverts),
            "--stdout",
            *example_args(gateway_example),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert_like_example(json.loads(line), payload)


def test_stdout_vectors_and_repeats(firmware_tools, format5_vectors):
    result = subprocess.run(
        [
            str(firmware_tools.emulator),
            "--vectors",
            str(VECTORS / "ruuvi_format5.json"),
            "--stdout",
            "--count",
            "15",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    messages = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(messages) == 15
    first_round = messages[:5]
    expected = [v["expected"] for v in format5_vectors["format5_payloads"]]
    expected.append(format5_vectors["ruuvi_gateway_advertisement"]["expected"])
    for message, want in zip(first_round, expected, strict=False):
        for key, value in want.items():
            if key != "mac":
                assert message[key] == value, key
    # Later rounds repeat the data as new measurements (sequence advanced), not duplicates.
    assert messages[5]["measurement_sequence"] == expected[0]["measurement_sequence"] + 1
    assert messages[5]["temperature"] == expected[0]["temperature"]


def test_bad_input_line_is_reported(firmware_tools, tmp_path: Path):
    adverts = tmp_path / "bad.txt"
    adverts.write_text("0201061BFF9904\nnot-hex here\n")
    result = subprocess.run(
        [str(firmware_tools.emulator), "--input", str(adverts), "--stdout"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "bad.txt:2" in result.stderr


def test_forever_runs_until_sigterm(firmware_tools):
    """`--forever` (what `make run` uses) keeps publishing new measurements until SIGTERM."""
    proc = subprocess.Popen(
        [
            str(firmware_tools.emulator),
            "--vectors",
            str(VECTORS / "ruuvi_format5.json"),
            "--stdout",
            "--forever",
            "--rate",
            "100",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = [proc.stdout.readline() for _ in range(12)]  # blocks until that many were published
    proc.send_signal(signal.SIGTERM)
    rest, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    messages = [json.loads(line) for line in lines + rest.splitlines()]
    assert len(messages) >= 12
    assert json.loads(err.strip().splitlines()[-1])["published"] == len(messages)
    sequences = [m["measurement_sequence"] for m in messages if m["mac"] == "E3:75:CF:37:4E:23"]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)


@pytest.mark.integration
def test_emulator_publishes_to_mosquitto(
    firmware_tools, gateway_example, mqtt_host, mqtt_port, unique_name
):
    import paho.mqtt.client as paho

    gateway_id = unique_name("emu-gw")
    topic = f"test/{unique_name('ruuvitag')}"
    status_topic = f"ruuvitag/status/{gateway_id}"
    subscribed = threading.Event()
    data: list[paho.MQTTMessage] = []
    status: list[paho.MQTTMessage] = []
    user, password = stack_mqtt_credentials()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=unique_name("emu-sub"))
    client.username_pw_set(user, password)
    client.on_connect = lambda c, *_: c.subscribe([(topic, 1), (status_topic, 1)])
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = lambda _c, _u, msg: (data if msg.topic == topic else status).append(msg)
    client.connect(mqtt_host, mqtt_port, keepalive=10)
    client.loop_start()
    try:
        assert subscribed.wait(10)
        payload = gateway_example["payload"]
        args = example_args(gateway_example)
        args[1] = gateway_id
        result = subprocess.run(
            [
                str(firmware_tools.emulator),
                "--vectors",
                str(VECTORS / "ruuvi_format5.json"),
                "--host",
                mqtt_host,
                "--port",
                str(mqtt_port),
                "--topic",
                topic,
                "--count",
                "20",
                "--username",
                user,
                "--password",
                password,
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        deadline = time.monotonic() + 15
        while (len(data) < 20 or len(status) < 2) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        client.loop_stop()
        client.disconnect()
    assert len(data) == 20 and all(m.qos == 1 for m in data)
    first = json.loads(data[0].payload)
    want = dict(payload, gateway_id=gateway_id)
    assert_like_example(first, want)
    states = [json.loads(m.payload)["state"] for m in status]
    assert states == ["online", "offline"]
    assert json.loads(status[0].payload) == dict(
        gateway_example["status_payloads"]["online"], gateway_id=gateway_id
    )
    # Leave no retained status behind for this throwaway gateway id.
    cleaner = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=unique_name("emu-clean"))
    cleaner.username_pw_set(user, password)
    cleaner.connect(mqtt_host, mqtt_port, keepalive=10)
    cleaner.loop_start()
    cleaner.publish(status_topic, b"", qos=1, retain=True).wait_for_publish(10)
    cleaner.loop_stop()
    cleaner.disconnect()
