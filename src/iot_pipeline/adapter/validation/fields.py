"""Checks shared by every payload family: the JSON object, its shape (pydantic models), MAC
addresses, RSSI, and decoded fields against the codec's decoding of the raw data."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from iot_pipeline.adapter.reasons import RejectedError, RejectReason
from iot_pipeline.ruuvi import ErrorKind, RuuviCodecError, RuuviReading

MAC_PATTERN: Final = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$")
GATEWAY_ID_PATTERN: Final = r"^[A-Za-z0-9._:-]{1,64}$"
RSSI_RANGE: Final = (-127, 20)  # dBm; BLE reports int8, +20 is the strongest plausible
MAX_HEX_CHARS: Final = 512  # a whole legacy advertisement is at most 31 bytes (62 hex chars)

# Message shapes check types and required fields only; semantics are checked by the families.
STRICT: Final = ConfigDict(strict=True, extra="ignore", frozen=True)

Model = TypeVar("Model", bound=BaseModel)


def short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Gateways send the same few MACs in every message: a bounded cache spares the regex (a bad MAC
# raises, which lru_cache never keeps).
@lru_cache(maxsize=4096)
def normalize_mac(value: str, what: str) -> str:
    """``aa-bb-cc-dd-ee-ff`` / ``AA:BB:..`` into upper-case colon form; BAD_MAC otherwise."""
    if not MAC_PATTERN.match(value):
        raise RejectedError(
            RejectReason.BAD_MAC,
            f"{what} is not a MAC address like AA:BB:CC:DD:EE:FF: {short(value)}",
        )
    return value.replace("-", ":").upper()


def topic_mac(segment: str | None) -> str | None:
    """A topic segment that is a MAC address, normalized; None otherwise."""
    if segment is not None and MAC_PATTERN.match(segment):
        return segment.replace("-", ":").upper()
    return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


# Built once: json.loads() with any keyword builds a new decoder per call.
_JSON: Final = json.JSONDecoder(parse_constant=_reject_constant)


def load_json_object(payload: bytes, max_bytes: int) -> dict[str, Any]:
    if len(payload) > max_bytes:
        raise RejectedError(
            RejectReason.OVERSIZE,
            f"payload of {len(payload)} bytes exceeds the {max_bytes}-byte limit",
        )
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RejectedError(RejectReason.NOT_JSON, f"payload is not UTF-8: {exc.reason}") from None
    try:
        obj = _JSON.decode(text)
    except RecursionError:
        raise RejectedError(RejectReason.NOT_JSON, "payload nests too deeply") from None
    except ValueError as exc:
        raise RejectedError(RejectReason.NOT_JSON, f"payload is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise RejectedError(
            RejectReason.SCHEMA, f"payload must be a JSON object, got {type(obj).__name__}"
        )
    return obj


def validate(model: type[Model], obj: dict[str, Any]) -> Model:
    """``obj`` as ``model``; SCHEMA naming the first offending field otherwise."""
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise RejectedError(RejectReason.SCHEMA, f"{where}: {first['msg']}{more}") from None


def check_rssi(rssi: int | None) -> int | None:
    if rssi is not None and not RSSI_RANGE[0] <= rssi <= RSSI_RANGE[1]:
        raise RejectedError(
            RejectReason.OUT_OF_RANGE, f"rssi {rssi} dBm outside [{RSSI_RANGE[0]}, {RSSI_RANGE[1]}]"
        )
    return rssi


_CODEC_REASONS: Final = {
    ErrorKind.UNKNOWN_FORMAT: RejectReason.UNKNOWN_FORMAT,
    ErrorKind.NO_RUUVI_DATA: RejectReason.NOT_RUUVI,
    ErrorKind.OUT_OF_RANGE: RejectReason.OUT_OF_RANGE,
}


def codec_rejection(field_name: str, exc: RuuviCodecError) -> RejectedError:
    reason = _CODEC_REASONS.get(exc.kind, RejectReason.BAD_RAW_DATA)
    return RejectedError(reason, f"{field_name}: {exc.message}")


def compare_decoded(reading: RuuviReading, message: BaseModel, names: tuple[str, ...]) -> None:
    """Every decoded field the message states must equal the codec's decoding of the raw data."""
    given = message.model_fields_set
    for name in names:
        if name in given:
            stated = getattr(message, name)
            decoded = getattr(reading, name)
            if stated != decoded:
                raise RejectedError(
                    RejectReason.DECODE_MISMATCH,
                    f"{name} is {stated!r} in the message but the raw data decodes to {decoded!r}",
                )
