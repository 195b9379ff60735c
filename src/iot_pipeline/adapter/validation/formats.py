"""The Ruuvi data formats a message may state decoded fields of: their names (as in this
project's contract) and the ranges a stated value must lie in. A format the adapter accepts
decoded fields of is one entry in DECODED_FORMATS."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel

from iot_pipeline.adapter.reasons import RejectedError, RejectReason
from iot_pipeline.adapter.validation.fields import STRICT
from iot_pipeline.ruuvi import format5 as f5


@dataclass(frozen=True, slots=True)
class DecodedFormat:
    data_format: int
    fields: tuple[str, ...]  # the measurement fields, in the codec's order
    ranges: Mapping[str, tuple[float, float]]


FORMAT5: Final = DecodedFormat(
    data_format=f5.DATA_FORMAT,
    fields=f5.FIELD_NAMES[1:-1],  # temperature .. measurement_sequence
    ranges={
        "temperature": f5.TEMPERATURE_RANGE,
        "humidity": f5.HUMIDITY_RANGE,
        "pressure": f5.PRESSURE_RANGE,
        "acceleration_x": f5.ACCELERATION_RANGE,
        "acceleration_y": f5.ACCELERATION_RANGE,
        "acceleration_z": f5.ACCELERATION_RANGE,
        "tx_power": f5.TX_POWER_RANGE,
        "battery": f5.BATTERY_RANGE,
        "movement_counter": f5.MOVEMENT_COUNTER_RANGE,
        "measurement_sequence": f5.MEASUREMENT_SEQUENCE_RANGE,
    },
)
DECODED_FORMATS: Final[Mapping[int, DecodedFormat]] = {FORMAT5.data_format: FORMAT5}
MEASUREMENT_FIELDS: Final = FORMAT5.fields


class MeasurementFields(BaseModel):
    """Decoded Format 5 fields as a message states them (names and units of the contract)."""

    model_config = STRICT

    temperature: float | None = None
    humidity: float | None = None
    pressure: int | None = None
    acceleration_x: float | None = None
    acceleration_y: float | None = None
    acceleration_z: float | None = None
    tx_power: int | None = None
    battery: float | None = None
    movement_counter: int | None = None
    measurement_sequence: int | None = None


def decoded_format(data_format: int | None) -> DecodedFormat:
    """The format a message states (Format 5 when it states none); UNKNOWN_FORMAT otherwise."""
    if data_format is None:
        return FORMAT5
    found = DECODED_FORMATS.get(data_format)
    if found is None:
        supported = ", ".join(str(number) for number in DECODED_FORMATS)
        raise RejectedError(
            RejectReason.UNKNOWN_FORMAT,
            f"data_format {data_format} is not supported (only {supported})",
        )
    return found


def check_ranges(values: dict[str, Any], fmt: DecodedFormat) -> None:
    for name, value in values.items():
        if value is None:
            continue
        low, high = fmt.ranges[name]
        if not (math.isfinite(value) and low <= value <= high):
            raise RejectedError(
                RejectReason.OUT_OF_RANGE,
                f"{name} {value} outside the Format {fmt.data_format} range [{low}, {high}]",
            )
