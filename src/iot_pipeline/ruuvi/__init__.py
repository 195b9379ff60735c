"""RuuviTag Data Format 5 codec (pure): decode and encode payloads, read advertisements."""

from iot_pipeline.ruuvi.advertisement import (
    RUUVI_COMPANY_ID,
    decode_any,
    decode_any_hex,
    find_ruuvi_manufacturer_data,
    iter_ad_structures,
)
from iot_pipeline.ruuvi.format5 import (
    DATA_FORMAT,
    FIELD_NAMES,
    PAYLOAD_LENGTH,
    ErrorKind,
    RuuviCodecError,
    RuuviReading,
    decode,
    decode_hex,
    encode,
    encode_hex,
    format_mac,
    parse_hex,
    parse_mac,
)

__all__ = [
    "DATA_FORMAT",
    "FIELD_NAMES",
    "PAYLOAD_LENGTH",
    "RUUVI_COMPANY_ID",
    "ErrorKind",
    "RuuviCodecError",
    "RuuviReading",
    "decode",
    "decode_any",
    "decode_any_hex",
    "decode_hex",
    "encode",
    "encode_hex",
    "find_ruuvi_manufacturer_data",
    "format_mac",
    "iter_ad_structures",
    "parse_hex",
    "parse_mac",
]
