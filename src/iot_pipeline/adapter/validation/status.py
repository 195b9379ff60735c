"""Gateway status and last-will messages: ``ruuvitag/status/<gateway_id>`` (the firmware's) and
``ruuvi/<gw>/gw_status`` (the Ruuvi Gateway's), ``{"state": "online" | "offline"}`` or the bare
word. Told by the topic."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from iot_pipeline.adapter.reasons import RejectedError, RejectReason
from iot_pipeline.adapter.validation.fields import (
    GATEWAY_ID_PATTERN,
    STRICT,
    normalize_mac,
    short,
    topic_mac,
    validate,
)
from iot_pipeline.adapter.validation.results import GatewayStatus, SourceFormat, ValidationLimits


class StatusMessage(BaseModel):
    model_config = STRICT

    state: str = Field(max_length=32)
    gateway_id: str | None = Field(None, pattern=GATEWAY_ID_PATTERN)
    gateway_mac: str | None = Field(None, max_length=32)


def status_source(topic: str, limits: ValidationLimits) -> SourceFormat | None:
    """The family whose status topic ``topic`` is, None for any other topic."""
    if topic.endswith(limits.ruuvi_status_suffix):
        return SourceFormat.RUUVI_GATEWAY
    if topic.startswith(limits.status_topic_prefix):
        return SourceFormat.ESP32_FIRMWARE
    return None


def bare_state(payload: bytes) -> str | None:
    """The state of a payload that is just the word ``online`` or ``offline``, else None."""
    word = payload.strip()
    return word.decode() if word.lower() in (b"online", b"offline") else None


def parse_status(topic: str, obj: dict[str, Any], source: SourceFormat) -> GatewayStatus:
    msg = validate(StatusMessage, obj)
    state = msg.state.strip().lower()
    if state not in ("online", "offline"):
        raise RejectedError(
            RejectReason.SCHEMA, f"state must be 'online' or 'offline', got {short(msg.state)}"
        )
    gateway_mac = (
        normalize_mac(msg.gateway_mac, "gateway_mac") if msg.gateway_mac is not None else None
    )
    segments = topic.split("/")
    if source is SourceFormat.RUUVI_GATEWAY:
        topic_id = segments[-2] if len(segments) >= 2 else ""
        gateway_id = msg.gateway_id or topic_mac(topic_id) or topic_id
    else:
        gateway_id = msg.gateway_id or segments[-1]
    if not re.fullmatch(GATEWAY_ID_PATTERN, gateway_id or ""):
        raise RejectedError(RejectReason.SCHEMA, f"gateway id {short(gateway_id)} is not valid")
    return GatewayStatus(
        gateway_id=gateway_id, online=state == "online", source=source, gateway_mac=gateway_mac
    )
