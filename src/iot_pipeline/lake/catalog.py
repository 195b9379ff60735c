"""The Iceberg catalog and the readings table.

Embedded by default: a pyiceberg SQL catalog in a SQLite file and a warehouse folder, both under
LAKE_DIR. LAKE_CATALOG_URI may name another database (e.g. the stack's PostgreSQL); with
LAKE_CATALOG_TYPE=rest it is an Iceberg REST catalog's URL, and LAKE_WAREHOUSE=s3://... with the
LAKE_S3_* settings points the data at an S3-compatible store.
"""

from __future__ import annotations

from typing import Any

from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import Table

from iot_pipeline.config import Settings
from iot_pipeline.lake.schema import (
    contract_avro_schema,
    iceberg_schema,
    partition_spec,
    sort_order,
)

CATALOG_NAME = "iot"


def catalog_properties(settings: Settings) -> dict[str, str]:
    """pyiceberg catalog properties for the settings (pure)."""
    lake_dir = settings.lake_dir.resolve()
    warehouse = settings.lake_warehouse or (lake_dir / "warehouse").as_uri()
    props: dict[str, str] = {"type": settings.lake_catalog_type, "warehouse": warehouse}
    if settings.lake_catalog_type == "sql":
        props["uri"] = settings.lake_catalog_uri or f"sqlite:///{lake_dir / 'catalog.db'}"
    else:
        if not settings.lake_catalog_uri:
            raise ValueError(
                "LAKE_CATALOG_URI must name the REST catalog when LAKE_CATALOG_TYPE=rest"
            )
        props["uri"] = settings.lake_catalog_uri
    if settings.lake_s3_endpoint:
        props["s3.endpoint"] = settings.lake_s3_endpoint
        # S3-compatible stores (MinIO, Garage, SeaweedFS ...) serve buckets as paths.
        props["s3.force-virtual-addressing"] = "false"
    if settings.lake_s3_access_key_id:
        props["s3.access-key-id"] = settings.lake_s3_access_key_id
    if settings.lake_s3_secret_access_key is not None:
        props["s3.secret-access-key"] = settings.lake_s3_secret_access_key.get_secret_value()
    props["s3.region"] = settings.lake_s3_region
    return props


# pyiceberg (like Iceberg's Java library) retries a commit that lost a race by re-applying the
# snapshot on the new head, with the summary properties computed before: that would record stale
# Kafka offsets. The archiver's writer retries itself after re-reading them, so the library must
# not: conflicting commits fail and the writer starts over.
NO_LIBRARY_RETRIES = {"commit.retry.num-retries": "0"}


def table_properties(settings: Settings) -> dict[str, str]:
    return {
        "write.target-file-size-bytes": str(settings.lake_target_file_bytes),
        "write.parquet.compression-codec": "zstd",
        "format-version": "2",
        **NO_LIBRARY_RETRIES,
    }


def open_catalog(settings: Settings) -> Catalog:
    props = catalog_properties(settings)
    if settings.lake_catalog_type == "sql" and not settings.lake_catalog_uri:
        settings.lake_dir.mkdir(parents=True, exist_ok=True)
    if settings.lake_warehouse is None:
        (settings.lake_dir / "warehouse").mkdir(parents=True, exist_ok=True)
    return load_catalog(CATALOG_NAME, **props)


def open_table(
    catalog: Catalog, settings: Settings, avro_schema: dict[str, Any] | None = None
) -> Table:
    """The readings table, created from the Avro contract when it does not exist yet."""
    identifier = settings.lake_table
    try:
        table = catalog.load_table(identifier)
    except NoSuchTableError:
        pass
    else:
        if any(table.properties.get(k) != v for k, v in NO_LIBRARY_RETRIES.items()):
            with table.transaction() as tx:
                tx.set_properties(NO_LIBRARY_RETRIES)
        return table
    namespace = identifier.split(".")[0]
    catalog.create_namespace_if_not_exists(namespace)
    schema = iceberg_schema(avro_schema or contract_avro_schema())
    return catalog.create_table_if_not_exists(
        identifier,
        schema=schema,
        partition_spec=partition_spec(schema),
        sort_order=sort_order(schema),
        properties=table_properties(settings),
    )
