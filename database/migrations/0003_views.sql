-- 0003: convenience views of the seed design.
CREATE OR REPLACE VIEW recent_sensor_readings AS
SELECT *
FROM sensor_readings
WHERE "timestamp" >= now() - INTERVAL '24 hours'
ORDER BY "timestamp" DESC;

CREATE OR REPLACE VIEW anomalous_sensor_readings AS
SELECT *
FROM sensor_readings
WHERE is_anomaly = TRUE
ORDER BY "timestamp" DESC;
