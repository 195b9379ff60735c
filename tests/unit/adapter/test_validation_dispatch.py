"""Dispatch: status topics first, then the first payload family that claims the message, else
the firmware's; a new family is one entry in PAYLOAD_FAMILIES."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from iot_pipeline.adapter.reasons import RejectedError, Rejection, RejectReason
from iot_pipeline.adapter.validation import (
    GatewayStatus,
    TagReading,
    ValidationLimits,
    dispatch,
    parse_message,
)

RECEIVED = datetime(2026, 11, 23, 13, 37, 1, tzinfo=UTC)


def _new_family(_topic: str, obj: dict[str, Any], _at: datetime, _l: ValidationLimits) -> Any:
    raise RejectedError(RejectReason.UNKNOWN_FORMAT, f"new family saw {sorted(obj)}")


@pytest.fixture
def with_new_family(monkeypatch: pytest.MonkeyPatch) -> None:
    family = dispatch.PayloadFamily("new", lambda topic, _obj: topic == "new/x", _new_family)
    monkeypatch.setattr(dispatch, "PAYLOAD_FAMILIES", (family, *dispatch.PAYLOAD_FAMILIES))


@pytest.mark.usefixtures("with_new_family")
def test_a_family_added_to_the_table_gets_the_messages_it_claims() -> None:
    result = parse_message("new/x", b'{"a": 1}', RECEIVED)
    assert result == Rejection(RejectReason.UNKNOWN_FORMAT, "new family saw ['a']")
    other = parse_message("ruuvitag/data", b'{"a": 1}', RECEIVED)
    assert isinstance(other, Rejection)
    assert other.reason is RejectReason.SCHEMA  # the firmware's fallback: fields missing


def test_status_topics_come_before_any_family() -> None:
    result = parse_message("ruuvitag/status/gw-1", b'{"state": "online", "data": "00"}', RECEIVED)
    assert isinstance(result, GatewayStatus)


def test_the_ruuvi_gateway_family_claims_data_without_raw() -> None:
    gw = b'{"data": "0201061BFF99040517037758C5C703FCFF30FFF89416B7958AE375CF374E23"}'
    assert isinstance(
        parse_message("ruuvi/C8:25:2D:8E:9C:2C/E3:75:CF:37:4E:23", gw, RECEIVED), TagReading
    )
    both = parse_message("ruuvitag/data", b'{"data": "00", "raw": "zz", "mac": "x"}', RECEIVED)
    assert isinstance(both, Rejection)
    assert both.reason is RejectReason.SCHEMA  # the firmware's: gateway_id missing
