-- 0004 (Apache licence, no continuous aggregates): plain materialized views with the same names
-- and columns as the community-licence continuous aggregates. The sink's maintenance task runs
-- REFRESH MATERIALIZED VIEW CONCURRENTLY on them (DATA_SINK_MAINTENANCE_INTERVAL); the unique
-- indexes are what CONCURRENTLY needs, and keep readers unblocked during a refresh.
CREATE MATERIALIZED VIEW IF NOT EXISTS sensor_readings_hourly AS
SELECT
    time_bucket(INTERVAL '1 hour', "timestamp") AS bucket,
    device_id,
    device_type,
    COUNT(*) AS reading_count,
    AVG(value) AS avg_value,
    MIN(value) AS min_value,
    MAX(value) AS max_value,
    COUNT(CASE WHEN is_anomaly THEN 1 END) AS anomaly_count,
    first(battery_level, "timestamp") AS first_battery_level,
    last(battery_level, "timestamp") AS latest_battery_level
FROM sensor_readings
GROUP BY bucket, device_id, device_type
WITH DATA;

CREATE UNIQUE INDEX IF NOT EXISTS idx_sensor_readings_hourly_key
    ON sensor_readings_hourly (device_id, device_type, bucket);
CREATE INDEX IF NOT EXISTS idx_sensor_readings_hourly_bucket
    ON sensor_readings_hourly (bucket DESC);

CREATE MATERIALIZED VIEW IF NOT EXISTS sensor_readings_daily AS
SELECT
    time_bucket(INTERVAL '1 day', "timestamp") AS bucket,
    device_id,
    device_type,
    COUNT(*) AS reading_count,
    AVG(value) AS avg_value,
    MIN(value) AS min_value,
    MAX(value) AS max_value,
    COUNT(CASE WHEN is_anomaly THEN 1 END) AS anomaly_count,
    first(battery_level, "timestamp") AS first_battery_level,
    last(battery_level, "timestamp") AS latest_battery_level
FROM sensor_readings
GROUP BY bucket, device_id, device_type
WITH DATA;

CREATE UNIQUE INDEX IF NOT EXISTS idx_sensor_readings_daily_key
    ON sensor_readings_daily (device_id, device_type, bucket);
CREATE INDEX IF NOT EXISTS idx_sensor_readings_daily_bucket
    ON sensor_readings_daily (bucket DESC);
