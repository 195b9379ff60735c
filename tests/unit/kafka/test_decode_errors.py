import httpx2
import pytest
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import SerializationError

from iot_pipeline.kafka.consumer import is_transient_decode_error


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (SchemaRegistryError(503, 50301, "unavailable"), True),
        (SchemaRegistryError(-1, -1, "unknown"), True),
        (SchemaRegistryError(404, 40403, "Schema not found"), False),
        (ConnectionRefusedError("refused"), True),
        (httpx2.ConnectError("[Errno 111] Connection refused"), True),
        (httpx2.ReadTimeout("timed out"), True),
        (TimeoutError("slow"), True),
        (SerializationError("Unexpected magic byte 0"), False),
        (EOFError("truncated body"), False),
        (ValueError("bad"), False),
    ],
)
def test_registry_outages_are_transient_and_bad_records_are_not(
    exc: Exception, transient: bool
) -> None:
    assert is_transient_decode_error(exc) is transient
