"""Parse and validate one MQTT message into a reading, a gateway status or a rejection (pure).

Three payload families are accepted, each in its own module: this project's ESP32 firmware
(``firmware``), the official Ruuvi Gateway (``ruuvi_gateway``, raw advertisements) and its
decoded MQTT mode (``ruuvi_gateway_decoded``); every Ruuvi data format (3, 5, 6, E1) in each
(``payloads``: Format 5 on its own fast path). Their status/last-will
messages are told by the topic (``status``). ``dispatch`` picks the validation for a message: a
new payload family is one module with ``claims``/``parse`` and one entry in
``dispatch.PAYLOAD_FAMILIES``; a new data format's decoded fields are one entry in
``formats.DECODED_FORMATS`` (decoding itself is the shared codec's, ``iot_pipeline.ruuvi``).

Where raw data is present it is decoded with the shared codec and becomes the reading; decoded
fields in the message that disagree with it (exactly: both sides use the same integer
arithmetic) make the message invalid. ``parse_message`` never raises: every input yields a
:class:`TagReading`, a :class:`GatewayStatus` or a :class:`Rejection`.
"""

from __future__ import annotations

from iot_pipeline.adapter.validation.dispatch import PAYLOAD_FAMILIES, PayloadFamily, parse_message
from iot_pipeline.adapter.validation.fields import normalize_mac
from iot_pipeline.adapter.validation.firmware import FirmwareMessage
from iot_pipeline.adapter.validation.formats import MeasurementFields
from iot_pipeline.adapter.validation.results import (
    GatewayStatus,
    ParseResult,
    SourceFormat,
    TagReading,
    TimestampSource,
    ValidationLimits,
)
from iot_pipeline.adapter.validation.ruuvi_gateway import RuuviGatewayMessage
from iot_pipeline.adapter.validation.status import StatusMessage
from iot_pipeline.adapter.validation.timestamps import parse_timestamp

__all__ = [
    "PAYLOAD_FAMILIES",
    "FirmwareMessage",
    "GatewayStatus",
    "MeasurementFields",
    "ParseResult",
    "PayloadFamily",
    "RuuviGatewayMessage",
    "SourceFormat",
    "StatusMessage",
    "TagReading",
    "TimestampSource",
    "ValidationLimits",
    "normalize_mac",
    "parse_message",
    "parse_timestamp",
]
