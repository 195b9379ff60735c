"""Payload family 3: the official Ruuvi Gateway's *decoded* MQTT mode (topic
``ruuvi/<gw_mac>/<tag_mac>``), told by ``dataFormat`` without ``data``.

Newer gateway firmware can publish the fields it decoded itself instead of the raw advertisement
(``iot_pipeline.ruuvi.gateway_decoded``: formats 5, 6 and E1): the stated fields are the
reading, each validated against its format's range by the codec's encoder. The tag is the one the
topic names (Format 6 states only its MAC's low 3 bytes, which must match); where the topic names
none, a full MAC in ``id`` (formats 5, E1). The envelope (``gw_mac``, ``rssi``, ``ts``...) is
checked as in the raw mode.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from iot_pipeline.adapter.validation.fields import validate
from iot_pipeline.adapter.validation.results import SourceFormat, TagReading, ValidationLimits
from iot_pipeline.adapter.validation.ruuvi_gateway import GatewayEnvelope, decoded_rejection, relay
from iot_pipeline.ruuvi import RuuviCodecError
from iot_pipeline.ruuvi.gateway_decoded import reading_from_decoded


def claims(_topic: str, obj: dict[str, Any]) -> bool:
    return "dataFormat" in obj and "data" not in obj and "raw" not in obj


def parse(
    topic: str, obj: dict[str, Any], received_at: datetime, limits: ValidationLimits
) -> TagReading:
    msg = validate(GatewayEnvelope, obj)
    relayed = relay(msg, topic, received_at, limits)
    try:
        values = reading_from_decoded(obj)
    except RuuviCodecError as exc:
        raise decoded_rejection(exc) from None
    return relayed.reading(
        SourceFormat.RUUVI_GATEWAY_DECODED,
        values,
        "the topic names none and id is not a full MAC",
    )
