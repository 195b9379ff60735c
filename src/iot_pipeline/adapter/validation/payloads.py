"""A Ruuvi manufacturer payload of any data format (3, 5, 6, E1) as a reading, and the fields a
message states beside it checked against it (pure).

Format 5 is the hot path: its payload goes straight to ``format5.decode`` and its stated fields
are checked through the pydantic model the message was validated with. Formats 3, 6 and E1 go
through the codec's dispatch (``decode_payload``). Format 3 states Format 5's field names (its
tx_power, movement_counter and measurement_sequence are null); Ruuvi Air (6, E1) states the
names of its reading (``to_dict``), which the message's model does not know, so they are checked
here from the JSON object: a number (or null) where the reading has a number, a boolean for
``calibration_in_progress``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import BaseModel

from iot_pipeline.adapter.reasons import RejectedError, RejectReason
from iot_pipeline.adapter.validation.fields import codec_rejection, compare_decoded, short
from iot_pipeline.adapter.validation.formats import MEASUREMENT_FIELDS
from iot_pipeline.ruuvi import AnyReading, RuuviCodecError, decode, decode_payload, format5

FORMAT_3: Final = 3
FORMAT_5: Final = format5.DATA_FORMAT
FORMAT_6: Final = 6
FORMAT_E1: Final = 0xE1
# Reading fields that are not measurements a message states.
_NOT_STATED: Final = frozenset({"data_format", "mac"})
# Ruuvi's name of a format, for messages.
FORMAT_NAMES: Final = {3: "3", 5: "5", 6: "6", 0xE1: "E1"}


def decode_manufacturer_payload(payload: bytes, field_name: str) -> AnyReading:
    """The reading a manufacturer payload decodes to; a precise rejection otherwise (the codec's
    message: the format, the length it needs, the not-available value it refused...)."""
    try:
        if payload and payload[0] == FORMAT_5:
            return decode(payload)
        return decode_payload(payload)
    except RuuviCodecError as exc:
        raise codec_rejection(field_name, exc) from None


def check_stated(values: AnyReading, message: BaseModel, obj: Mapping[str, Any]) -> None:
    """Every decoded field the message states must equal the payload's decoding (exactly:
    both sides are the same integer arithmetic); DECODE_MISMATCH or SCHEMA otherwise."""
    if values.data_format in (FORMAT_5, FORMAT_3):
        compare_decoded(values, message, MEASUREMENT_FIELDS)  # type: ignore[arg-type]
    else:
        compare_fields(values, obj, tolerance={})


def _check_type(name: str, stated: object, decoded: object) -> None:
    if isinstance(decoded, bool):
        if not isinstance(stated, bool):
            raise RejectedError(
                RejectReason.SCHEMA, f"{name}: must be true or false, got {short(stated)}"
            )
    elif stated is not None and (isinstance(stated, bool) or not isinstance(stated, int | float)):
        raise RejectedError(RejectReason.SCHEMA, f"{name}: must be a number, got {short(stated)}")


def compare_fields(
    values: AnyReading, stated: Mapping[str, Any], tolerance: Mapping[str, float]
) -> None:
    """The fields of a reading that ``stated`` names (reading field names) must equal the
    decoded ones, within ``tolerance[name]`` where given (the official gateway prints its
    decoded fields rounded); SCHEMA for a value of the wrong type."""
    # The dataclass's field names, not to_dict(): asdict() copies every value (twice E1's parse).
    for name in type(values).__dataclass_fields__:
        if name in _NOT_STATED or name not in stated:
            continue
        decoded = getattr(values, name)
        value = stated[name]
        _check_type(name, value, decoded)
        if value == decoded:
            continue
        allowed = tolerance.get(name)
        if (
            allowed is not None
            and value is not None
            and decoded is not None
            and abs(value - decoded) <= allowed
        ):
            continue
        raise RejectedError(
            RejectReason.DECODE_MISMATCH,
            f"{name} is {value!r} in the message but the raw data decodes to {decoded!r}",
        )


def check_tag_mac(values: AnyReading, tag_mac: str, where: str) -> None:
    """The MAC a payload carries must be the tag's: E1 and Format 5 carry all six bytes, Format 6
    the low three (Format 3 none). ``where`` names the tag MAC's origin for the message."""
    carried = values.mac
    if carried is None:
        return
    expected = tag_mac[-8:] if values.data_format == FORMAT_6 else tag_mac
    if carried != expected:
        raise RejectedError(
            RejectReason.DECODE_MISMATCH,
            f"{where} names tag {tag_mac} but the Format {FORMAT_NAMES[values.data_format]} "
            f"payload carries {carried}",
        )
