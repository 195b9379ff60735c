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

from iot_pipeline.adapter.reasons import RejectedError, RejectReason
from iot_pipeline.adapter.validation.fields import validate
from iot_pipeline.adapter.validation.payloads import check_tag_mac
from iot_pipeline.adapter.validation.results import SourceFormat, TagReading, ValidationLimits
from iot_pipeline.adapter.validation.ruuvi_gateway import (
    GatewayEnvelope,
    decoded_rejection,
    envelope,
    topic_macs,
)
from iot_pipeline.ruuvi import RuuviCodecError
from iot_pipeline.ruuvi.gateway_decoded import reading_from_decoded


def claims(_topic: str, obj: dict[str, Any]) -> bool:
    return "dataFormat" in obj and "data" not in obj and "raw" not in obj


def parse(
    topic: str, obj: dict[str, Any], received_at: datetime, limits: ValidationLimits
) -> TagReading:
    msg = validate(GatewayEnvelope, obj)
    topic_gw, topic_tag = topic_macs(topic)
    gateway_mac, rssi, timestamp, ts_source = envelope(msg, topic_gw, received_at, limits)
    try:
        values = reading_from_decoded(obj)
    except RuuviCodecError as exc:
        raise decoded_rejection(exc) from None
    full_mac = values.mac if values.mac is not None and len(values.mac) == 17 else None
    tag_mac = topic_tag or full_mac
    if tag_mac is None:
        raise RejectedError(
            RejectReason.BAD_MAC,
            "tag MAC unknown: the topic names none and id is not a full MAC",
        )
    check_tag_mac(values, tag_mac, "topic")
    return TagReading(
        source=SourceFormat.RUUVI_GATEWAY_DECODED,
        tag_mac=tag_mac,
        gateway_id=gateway_mac,
        gateway_mac=gateway_mac,
        rssi=rssi,
        timestamp=timestamp,
        timestamp_source=ts_source,
        values=values,
    )
