"""The firmware's C decoder (`ruuvi-decode`) and the Python codec agree field by field.

Both CLIs get the same inputs on stdin: the official vectors of every format (3, 5, 6, E1, bare
and as whole advertisements), at least 10,000 seeded random payloads per format (bare and inside
advertisements, with every "not available" sentinel and boundary value well represented) and
malformed inputs. For every input both print one JSON line; they must be the same object (same
keys in the same order, numbers equal as IEEE doubles, same nulls and booleans) or both an error
object naming the same input.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from typing import Any

from tests.ruuvi_payloads import LENGTHS, random_payload, wrap

SEED = 20261123
FORMATS = (3, 5, 6, 0xE1)
RANDOM_PAYLOADS = 10_000  # per format, bare
RANDOM_ADVERTISEMENTS = 2000  # per format, inside an advertisement


def random_hex_text(data: bytes, rng: random.Random) -> str:
    text = data.hex()
    text = text.upper() if rng.random() < 0.5 else text
    return (" " * rng.randint(0, 1)) + text + ("\t" * rng.randint(0, 1))


def malformed_inputs(rng: random.Random, valid: bytes) -> list[str]:
    """Inputs both decoders must reject (or, for other formats, only the firmware accepts)."""
    cases = [
        "zz",
        "0x" + valid.hex(),
        valid.hex()[:-1],  # odd digit count
        valid.hex()[:-2],  # 23 bytes
        valid.hex() + "00",  # 25 bytes
        "02010603FF9904",  # empty Ruuvi manufacturer data
        "0201061BFF9904" + valid.hex()[:-2],  # truncated AD structure
        "0201061BFF0499" + valid.hex(),  # company id byte order swapped
        "04FF99040412",  # format 4 (URL) is not a measurement
        "03291A1ECE1EFC18F94202CA0B53" + "00",  # Format 3, 15 bytes
        "06170C5668C79E007000C90501D9FFCD004C88",  # Format 6, 19 bytes
        "020106" + "2AFF9904E1" + "00" * 38,  # E1 one byte short inside an advertisement
    ]
    for _ in range(300):
        junk = rng.randbytes(rng.randint(1, 40))
        cases.append(junk.hex())
    for _ in range(200):
        cut = wrap(random_payload(rng.choice(FORMATS), rng), rng)
        cases.append(cut[: rng.randint(1, len(cut) - 1)].hex())
    return cases


def build_inputs(format5_vectors: dict[str, Any], other_vectors: dict[str, Any]) -> list[str]:
    rng = random.Random(SEED)
    inputs = [v["hex"] for v in format5_vectors["format5_payloads"]]
    inputs.append(format5_vectors["ruuvi_gateway_advertisement"]["data"])
    inputs += [v["hex"] for v in other_vectors["vectors"]]
    inputs += [a["data"] for a in other_vectors["advertisements"]]
    for data_format in FORMATS:
        inputs += [
            random_hex_text(random_payload(data_format, rng), rng) for _ in range(RANDOM_PAYLOADS)
        ]
        inputs += [
            random_hex_text(wrap(random_payload(data_format, rng), rng), rng)
            for _ in range(RANDOM_ADVERTISEMENTS)
        ]
    inputs += malformed_inputs(rng, bytes.fromhex(inputs[0]))
    return inputs


def run_cli(command: list[str], inputs: list[str]) -> tuple[int, list[dict[str, Any]]]:
    result = subprocess.run(
        [*command, "decode", "-"],
        input="\n".join(inputs) + "\n",
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = result.stdout.splitlines()
    assert len(lines) == len(inputs), result.stderr[-2000:]
    return result.returncode, [json.loads(line) for line in lines]


def assert_same_reading(c_obj: dict[str, Any], py_obj: dict[str, Any], text: str) -> None:
    assert list(c_obj) == list(py_obj), text
    for key, py_value in py_obj.items():
        c_value = c_obj[key]
        if isinstance(py_value, float):
            # cJSON prints integral doubles without ".0" (0 for 0.0): compare as doubles.
            assert isinstance(c_value, int | float) and float(c_value) == py_value, (text, key)
        else:
            assert c_value == py_value and type(c_value) is type(py_value), (text, key)


def test_c_and_python_decoders_agree(firmware_tools, format5_vectors, other_vectors) -> None:
    inputs = build_inputs(format5_vectors, other_vectors)
    c_rc, c_out = run_cli([str(firmware_tools.ruuvi_decode)], inputs)
    py_rc, py_out = run_cli([sys.executable, "-m", "iot_pipeline.ruuvi"], inputs)
    decoded = dict.fromkeys(FORMATS, 0)
    rejected = 0
    for text, c_obj, py_obj in zip(inputs, c_out, py_out, strict=True):
        if "error" in py_obj:
            assert py_obj["input"] == text
            assert list(c_obj) == ["input", "error"] and c_obj["input"] == text, (text, c_obj)
            assert c_obj["error"]
            rejected += 1
        else:
            assert "error" not in c_obj, (text, c_obj)
            assert_same_reading(c_obj, py_obj, text)
            decoded[py_obj["data_format"]] += 1
    # A few advertisements are, by the shared rule, payloads of another format: e.g. a 24-byte
    # advertisement that starts with the 0x05 length byte of another AD structure is a Format 5
    # payload. Both decoders apply the rule alike; the bare payloads all decode as their own.
    for data_format in FORMATS:
        assert decoded[data_format] >= RANDOM_PAYLOADS + 0.95 * RANDOM_ADVERTISEMENTS, decoded
    assert rejected >= 400
    assert c_rc == py_rc == 1  # some inputs failed: both exit non-zero at the end


def test_other_format_vectors_give_expected_values(firmware_tools, other_vectors) -> None:
    vectors = other_vectors["vectors"]
    result = subprocess.run(
        [str(firmware_tools.ruuvi_decode), "decode", *[v["hex"] for v in vectors]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for vector, line in zip(vectors, result.stdout.splitlines(), strict=True):
        got = json.loads(line)
        assert got == vector["expected"] and list(got) == list(vector["expected"]), vector["name"]
        assert len(bytes.fromhex(vector["hex"])) == LENGTHS[got["data_format"]]


def test_official_vectors_give_expected_values(firmware_tools, format5_vectors) -> None:
    vectors = format5_vectors["format5_payloads"]
    result = subprocess.run(
        [str(firmware_tools.ruuvi_decode), "decode", *[v["hex"] for v in vectors]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for vector, line in zip(vectors, result.stdout.splitlines(), strict=True):
        got = json.loads(line)
        assert got.pop("data_format") == 5
        assert got == vector["expected"], vector["name"]


def test_argument_mode_exit_status(firmware_tools, format5_vectors) -> None:
    good = format5_vectors["format5_payloads"][0]["hex"]
    ok = subprocess.run([str(firmware_tools.ruuvi_decode), good], capture_output=True, text=True)
    bad = subprocess.run(
        [str(firmware_tools.ruuvi_decode), "decode", good, "05"], capture_output=True, text=True
    )
    assert ok.returncode == 0 and len(ok.stdout.splitlines()) == 1
    assert bad.returncode == 1
    assert json.loads(bad.stdout.splitlines()[1])["input"] == "05"


def test_message_mode_prints_the_shared_example(firmware_tools, gateway_example) -> None:
    """`ruuvi-decode --message` prints, byte for byte, the firmware message of the example."""
    payload = gateway_example["payload"]
    result = subprocess.run(
        [
            str(firmware_tools.ruuvi_decode),
            "decode",
            "--message",
            "--gateway-id",
            payload["gateway_id"],
            "--gateway-mac",
            payload["gateway_mac"],
            "--mac",
            payload["mac"],
            "--rssi",
            str(payload["rssi"]),
            "--timestamp-ms",
            "1795441020123",  # 2026-11-23T13:37:00.123Z
            payload["raw"],
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == json.dumps(payload, separators=(",", ":")) + "\n"
