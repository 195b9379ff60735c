"""``python -m iot_pipeline.ruuvi decode HEX [HEX ...]`` (or ``-``: one payload per line on stdin).

Prints one JSON object per payload and line: the decoded reading (keys in the contract's order,
not-available values as null) or ``{"input": "<hex as given>", "error": "<message>"}``. Blank
stdin lines are skipped. Exits 1 at the end if any payload failed, 2 on a usage error.
The output format is a contract with the firmware's C ``ruuvi-decode``: keep it stable.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from typing import TextIO

from iot_pipeline.ruuvi.advertisement import decode_any_hex
from iot_pipeline.ruuvi.common import RuuviCodecError


def decode_line(text: str) -> tuple[str, bool]:
    """One input into its JSON output line (without newline) and whether it decoded."""
    try:
        reading = decode_any_hex(text)
    except RuuviCodecError as exc:
        return json.dumps({"input": text, "error": exc.message}, separators=(",", ":")), False
    return json.dumps(reading.to_dict(), separators=(",", ":")), True


def decode_all(inputs: Iterable[str], out: TextIO) -> bool:
    """Decode every input, writing one line each; True when all decoded."""
    ok = True
    for text in inputs:
        line, decoded = decode_line(text)
        out.write(line + "\n")
        ok = ok and decoded
    return ok


def _stdin_lines(stream: TextIO) -> Iterable[str]:
    for raw_line in stream:
        line = raw_line.rstrip("\r\n")
        if line.strip():
            yield line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m iot_pipeline.ruuvi",
        description="Ruuvi codec tools (data formats 3, 5, 6 and E1).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    dec = sub.add_parser(
        "decode",
        help="decode Ruuvi payloads (formats 3, 5, 6, E1) or whole BLE advertisements given as hex",
        description="Prints one JSON object per payload and line; exits 1 if any failed.",
    )
    dec.add_argument(
        "payloads",
        nargs="+",
        metavar="HEX",
        help="a payload (Format 3: 14 bytes, 5: 24, 6: 20, E1: 40) or a whole advertisement in "
        "hex; '-' reads one per line from stdin",
    )
    return parser


def main(
    argv: Sequence[str] | None = None, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> int:
    args = build_parser().parse_args(argv)
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout

    def inputs() -> Iterable[str]:
        for item in args.payloads:
            if item == "-":
                yield from _stdin_lines(stdin)
            else:
                yield item

    return 0 if decode_all(inputs(), stdout) else 1
