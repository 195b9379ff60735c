"""The long-term archive: readings streamed exactly once from Kafka into an Apache Iceberg table.

`schema` maps the Avro contract to the Iceberg schema, `records` turns decoded readings into Arrow,
`offsets` keeps the Kafka offsets in snapshot properties, `roll` decides when to commit, `catalog`
opens the catalog and the table, `writer` appends, `step` is the archiver's step on the project's
consumer loop and `service` its main(), `metrics` its Prometheus metrics, `maintenance` compacts
and expires, `query` runs SQL over the table with DuckDB; `__main__` is the command line.
"""
