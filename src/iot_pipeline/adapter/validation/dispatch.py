"""Which validation a message gets: status topics first, then the first payload family in
PAYLOAD_FAMILIES that claims the JSON object, else the firmware's (FALLBACK: its errors say what
a message lacks). A new payload family is a module with ``claims`` and ``parse`` plus one entry
in PAYLOAD_FAMILIES."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, NamedTuple

from iot_pipeline.adapter.reasons import RejectedError
from iot_pipeline.adapter.validation import firmware, ruuvi_gateway, ruuvi_gateway_decoded
from iot_pipeline.adapter.validation.fields import load_json_object
from iot_pipeline.adapter.validation.results import ParseResult, TagReading, ValidationLimits
from iot_pipeline.adapter.validation.status import bare_state, parse_status, status_source


class PayloadFamily(NamedTuple):
    name: str
    # Whether this family's parser takes the message (topic, JSON object); must not raise.
    claims: Callable[[str, dict[str, Any]], bool]
    # The message as a reading, or RejectedError.
    parse: Callable[[str, dict[str, Any], datetime, ValidationLimits], TagReading]


# Tried in order; the first that claims a message parses it.
PAYLOAD_FAMILIES: Final = (
    PayloadFamily("ruuvi_gateway", ruuvi_gateway.claims, ruuvi_gateway.parse),
    PayloadFamily(
        "ruuvi_gateway_decoded", ruuvi_gateway_decoded.claims, ruuvi_gateway_decoded.parse
    ),
)
# What parses a message no family claims.
FALLBACK: Final = firmware.parse

_DEFAULT_LIMITS: Final = ValidationLimits()


def parse_message(
    topic: str, payload: bytes, received_at: datetime, limits: ValidationLimits | None = None
) -> ParseResult:
    """Classify and validate one MQTT message. Never raises for any topic or payload.

    ``received_at`` must be tz-aware; it replaces a missing timestamp and anchors the sanity
    window of present ones.
    """
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    limits = limits or _DEFAULT_LIMITS
    try:
        source = status_source(topic, limits)
        if source is not None:
            state = bare_state(payload)
            if state is not None:
                return parse_status(topic, {"state": state}, source)
        obj = load_json_object(payload, limits.max_payload_bytes)
        if source is not None:
            return parse_status(topic, obj, source)
        for family in PAYLOAD_FAMILIES:
            if family.claims(topic, obj):
                return family.parse(topic, obj, received_at, limits)
        return FALLBACK(topic, obj, received_at, limits)
    except RejectedError as exc:
        return exc.rejection
