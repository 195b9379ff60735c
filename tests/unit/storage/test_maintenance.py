from iot_pipeline.storage.maintenance import storage_path
from iot_pipeline.storage.migrate import Edition


def test_storage_path_names_the_fallbacks() -> None:
    assert storage_path(Edition.APACHE) == {
        "edition": "apache",
        "aggregates": "materialized_view",
        "compression": "none",
        "retention": "drop_chunks",
    }
    assert storage_path(Edition.TIMESCALE)["aggregates"] == "continuous_aggregate"
    assert storage_path(Edition.TIMESCALE)["compression"] == "policy"
