"""The fast group encoder is used only when it writes what the serializer writes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def test_encode_records_is_verified_against_the_serializer() -> None:
    import io

    import fastavro

    from iot_pipeline.adapter.encoding import records_encoder, sample_records
    from iot_pipeline.schemas import READING_SCHEMA_FILE, load_schema

    schema_str = load_schema(READING_SCHEMA_FILE)
    schema = fastavro.parse_schema(json.loads(schema_str))

    def serialize(record: Mapping[str, Any]) -> bytes:
        buffer = io.BytesIO(b"\x00\x00\x00\x00\x07")
        buffer.seek(5)
        fastavro.schemaless_writer(buffer, schema, dict(record))
        return buffer.getvalue()

    sample = sample_records()
    expected = [serialize(record) for record in sample.as_dicts()]
    assert records_encoder(serialize, schema_str)(sample) == expected

    def different(record: Mapping[str, Any]) -> bytes:
        return serialize(record) + b"!"

    assert records_encoder(different, schema_str)(sample) == [
        different(record) for record in sample.as_dicts()
    ]
