-- 0005: one row per device. Counts and value statistics come from the daily aggregate (cheap over
-- months of data); the latest reading comes straight from sensor_readings through the
-- (device_id, timestamp DESC) index, so last_seen is always current.
CREATE OR REPLACE VIEW device_summary AS
WITH totals AS (
    SELECT
        device_id,
        device_type,
        SUM(reading_count)::BIGINT AS reading_count,
        SUM(avg_value * reading_count) / NULLIF(SUM(reading_count), 0) AS avg_value,
        MIN(min_value) AS min_value,
        MAX(max_value) AS max_value,
        SUM(anomaly_count)::BIGINT AS anomaly_count,
        MIN(bucket) AS first_day
    FROM sensor_readings_daily
    GROUP BY device_id, device_type
)
SELECT
    t.device_id,
    t.device_type,
    t.reading_count,
    t.avg_value,
    t.min_value,
    t.max_value,
    t.anomaly_count,
    t.first_day,
    latest."timestamp" AS last_seen,
    latest.value AS latest_value,
    latest.unit,
    latest.battery_level AS latest_battery_level
FROM totals t
LEFT JOIN LATERAL (
    SELECT r."timestamp", r.value, r.unit, r.battery_level
    FROM sensor_readings r
    WHERE r.device_id = t.device_id
    ORDER BY r."timestamp" DESC
    LIMIT 1
) latest ON TRUE;
