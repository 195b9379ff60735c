-- 0006 (TimescaleDB community licence): native compression after 7 days (segmented by device,
-- newest first inside a segment) and retention of 90 days, run by TimescaleDB's job scheduler.
-- The sink's maintenance task additionally archives rows older than POSTGRES_ARCHIVE_AFTER_DAYS
-- into sensor_readings_archive and applies POSTGRES_RETENTION_DAYS there.
ALTER TABLE sensor_readings SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'device_id',
    timescaledb.compress_orderby = '"timestamp" DESC'
);

SELECT add_compression_policy('sensor_readings', INTERVAL '7 days', if_not_exists => TRUE);
SELECT add_retention_policy('sensor_readings', INTERVAL '90 days', if_not_exists => TRUE);
SELECT add_retention_policy('sensor_readings_archive', INTERVAL '90 days', if_not_exists => TRUE);
