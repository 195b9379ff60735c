"""`python -m iot_pipeline.ruuvi decode`: output lines, errors, exit status, stdin mode."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from iot_pipeline.ruuvi.cli import main

VECTORS = json.loads(
    (Path(__file__).parents[2] / "vectors" / "ruuvi_format5.json").read_text(encoding="utf-8")
)
KEYS = [
    "data_format",
    "temperature",
    "humidity",
    "pressure",
    "acceleration_x",
    "acceleration_y",
    "acceleration_z",
    "tx_power",
    "battery",
    "movement_counter",
    "measurement_sequence",
    "mac",
]


def _run(argv: list[str], stdin: str = "") -> tuple[int, list[str]]:
    out = io.StringIO()
    code = main(argv, stdin=io.StringIO(stdin), stdout=out)
    return code, out.getvalue().splitlines()


def test_every_vector_prints_its_expected_object_in_order() -> None:
    vectors = [*VECTORS["format5_payloads"], {**VECTORS["ruuvi_gateway_advertisement"]}]
    inputs = [v.get("hex") or v["data"] for v in vectors]
    code, lines = _run(["decode", *inputs])
    assert code == 0
    assert len(lines) == len(vectors)
    for line, vector in zip(lines, vectors, strict=True):
        obj = json.loads(line)
        assert list(obj) == KEYS
        assert obj == {"data_format": 5, **vector["expected"]}


def test_not_available_fields_are_json_null() -> None:
    code, lines = _run(["decode", VECTORS["format5_payloads"][3]["hex"]])
    assert code == 0
    assert lines[0].count("null") == 11


def test_failures_print_input_and_error_and_exit_non_zero_at_the_end() -> None:
    valid = VECTORS["format5_payloads"][0]["hex"]
    code, lines = _run(["decode", "nothex", valid, "03" + valid[2:]])
    assert code == 1
    assert len(lines) == 3
    first, second, third = (json.loads(line) for line in lines)
    assert first == {"input": "nothex", "error": first["error"]}
    assert "invalid hex" in first["error"]
    assert second["temperature"] == 24.3
    assert set(third) == {"input", "error"}
    assert third["input"] == "03" + valid[2:]


def test_stdin_mode_reads_one_payload_per_line_and_skips_blank_lines() -> None:
    valid = VECTORS["format5_payloads"][0]["hex"]
    gateway = VECTORS["ruuvi_gateway_advertisement"]["data"]
    code, lines = _run(["decode", "-"], stdin=f"{valid}\r\n\n{gateway.lower()}\n  \nzz\n")
    assert code == 1
    assert [json.loads(line).get("mac") for line in lines[:2]] == [
        "CB:B8:33:4C:88:4F",
        "E3:75:CF:37:4E:23",
    ]
    assert json.loads(lines[2]) == {"input": "zz", "error": json.loads(lines[2])["error"]}


def test_stdin_mixed_with_arguments_keeps_order() -> None:
    valid = VECTORS["format5_payloads"][0]["hex"]
    maximum = VECTORS["format5_payloads"][1]["hex"]
    code, lines = _run(["decode", maximum, "-", maximum], stdin=valid + "\n")
    assert code == 0
    assert [json.loads(line)["temperature"] for line in lines] == [163.835, 24.3, 163.835]


def test_module_entry_point_runs_as_a_process() -> None:
    valid = VECTORS["format5_payloads"][0]["hex"]
    done = subprocess.run(
        [sys.executable, "-m", "iot_pipeline.ruuvi", "decode", valid, "0"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert json.loads(lines[0])["mac"] == "CB:B8:33:4C:88:4F"
    assert json.loads(lines[1])["input"] == "0"


def test_usage_error_exits_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "iot_pipeline.ruuvi", "decode"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2
    assert "usage" in done.stderr


def test_every_format_decodes_on_the_command_line() -> None:
    other = json.loads(
        (Path(__file__).parents[2] / "vectors" / "ruuvi_other_formats.json").read_text("utf-8")
    )
    inputs = [v["hex"] for v in other["vectors"]] + [a["data"] for a in other["advertisements"]]
    code, lines = _run(["decode", *inputs])
    assert code == 0
    expected = [v["expected"] for v in other["vectors"]]
    by_name = {v["name"]: v["expected"] for v in other["vectors"]}
    expected += [by_name[a["expected_vector"]] for a in other["advertisements"]]
    for line, want in zip(lines, expected, strict=True):
        assert json.loads(line) == want
        assert list(json.loads(line)) == list(want)
