"""Ruuvi codec (pure): decode and encode payloads of data formats 3, 5, 6 and E1 (one module
each), read advertisements. The package-level ``decode``/``encode`` are Format 5's (the hot path);
``decode_payload``/``decode_any`` dispatch on the format byte."""

from iot_pipeline.ruuvi.advertisement import (
    RUUVI_COMPANY_ID,
    AnyReading,
    decode_any,
    decode_any_hex,
    decode_payload,
    find_ruuvi_manufacturer_data,
    iter_ad_structures,
    payload_length,
)
from iot_pipeline.ruuvi.common import (
    ErrorKind,
    RuuviCodecError,
    format_mac,
    parse_hex,
    parse_mac,
)
from iot_pipeline.ruuvi.format5 import (
    DATA_FORMAT,
    FIELD_NAMES,
    PAYLOAD_LENGTH,
    RuuviReading,
    decode,
    decode_hex,
    encode,
    encode_hex,
)
from iot_pipeline.ruuvi.format6 import Format6Reading
from iot_pipeline.ruuvi.formate1 import FormatE1Reading

__all__ = [
    "DATA_FORMAT",
    "FIELD_NAMES",
    "PAYLOAD_LENGTH",
    "RUUVI_COMPANY_ID",
    "AnyReading",
    "ErrorKind",
    "Format6Reading",
    "FormatE1Reading",
    "RuuviCodecError",
    "RuuviReading",
    "decode",
    "decode_any",
    "decode_any_hex",
    "decode_hex",
    "decode_payload",
    "encode",
    "encode_hex",
    "find_ruuvi_manufacturer_data",
    "format_mac",
    "iter_ad_structures",
    "parse_hex",
    "parse_mac",
    "payload_length",
]
