-- 0004 (TimescaleDB community licence): hourly and daily continuous aggregates with refresh
-- policies. Real-time aggregation (materialized_only = false) makes the newest, not yet
-- materialised buckets visible too. The Apache-licence variant of this migration creates plain
-- materialized views with the same names and columns.
CREATE MATERIALIZED VIEW IF NOT EXISTS sensor_readings_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
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
WITH NO DATA;

CREATE MATERIALIZED VIEW IF NOT EXISTS sensor_readings_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
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
WITH NO DATA;

SELECT add_continuous_aggregate_policy('sensor_readings_hourly',
    start_offset => INTERVAL '3 days',
    end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '5 minutes',
    if_not_exists => TRUE);

SELECT add_continuous_aggregate_policy('sensor_readings_daily',
    start_offset => INTERVAL '7 days',
    end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '1 hour',
    if_not_exists => TRUE);
