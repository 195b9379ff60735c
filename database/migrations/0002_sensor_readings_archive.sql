-- 0002: rows older than POSTGRES_ARCHIVE_AFTER_DAYS are moved here, whole chunks at a time, by the
-- sink's maintenance task; rows older than POSTGRES_RETENTION_DAYS are dropped from here.
-- Same columns as sensor_readings, weekly chunks.
CREATE TABLE IF NOT EXISTS sensor_readings_archive (
    LIKE sensor_readings INCLUDING DEFAULTS
);

SELECT create_hypertable(
    'sensor_readings_archive',
    'timestamp',
    chunk_time_interval => INTERVAL '7 days',
    if_not_exists => TRUE
);

CREATE UNIQUE INDEX IF NOT EXISTS idx_sensor_readings_archive_device_time
    ON sensor_readings_archive (device_id, "timestamp" DESC);
