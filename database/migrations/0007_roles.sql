-- 0007: least-privilege roles. Group roles without login; each deployment gives its login users
-- membership (the native stack: iot_sink, iot_readonly, iot_monitoring with generated passwords).
--   iot_reader   SELECT on every table and view of this schema (Grafana, psql users)
--   iot_writer   INSERT and SELECT on the readings only (the TimescaleDB sink)
--   iot_monitor  pg_monitor (the PostgreSQL exporter)
-- The owner (the role running migrations) keeps DDL. Roles are cluster-wide, grants per schema;
-- every statement is idempotent, and concurrent runs (one schema each) tolerate each other.
DO $$
DECLARE
    name TEXT;
BEGIN
    FOREACH name IN ARRAY ARRAY['iot_reader', 'iot_writer', 'iot_monitor'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = name) THEN
            BEGIN
                EXECUTE 'CREATE ROLE ' || quote_ident(name) || ' NOLOGIN';
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created by a concurrent migration
            END;
        END IF;
    END LOOP;
END $$;

-- (No format(): the migration runner's driver would read its percent signs as parameters.)
DO $$
DECLARE
    here TEXT := quote_ident(current_schema());
BEGIN
    EXECUTE 'GRANT USAGE ON SCHEMA ' || here || ' TO iot_reader, iot_writer';
    EXECUTE 'GRANT SELECT ON ALL TABLES IN SCHEMA ' || here || ' TO iot_reader';
    EXECUTE 'ALTER DEFAULT PRIVILEGES IN SCHEMA ' || here || ' GRANT SELECT ON TABLES TO iot_reader';
END $$;

GRANT SELECT, INSERT ON sensor_readings TO iot_writer;
DO $$
BEGIN  -- the identity column's sequence, whatever its name in this schema
    EXECUTE 'GRANT USAGE ON SEQUENCE ' || pg_get_serial_sequence('sensor_readings', 'id')
        || ' TO iot_writer';
END $$;
GRANT pg_monitor TO iot_monitor;
