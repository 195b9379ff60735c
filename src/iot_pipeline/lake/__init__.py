"""The long-term archive: readings streamed exactly once from Kafka into an Apache Iceberg table.

`schema` maps the Avro contract to the Iceberg schema, `records` turns decoded readings into Arrow,
`offsets` keeps the Kafka offsets in snapshot properties, `roll` decides when to write, `catalog`
opens the catalog and the table, `writer` appends, `maintenance` compacts and expires, `query`
runs SQL over the table with DuckDB, `service` is the archiver's consumer loop.
"""
