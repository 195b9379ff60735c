#!/bin/sh
# Restores a dump of the backup CronJob (pg_dump custom format) into the pipeline database,
# replacing it. TimescaleDB needs its pre/post restore calls around pg_restore. Stop the writers
# first (the deploy guide scales the sink to 0). Runs inside the TimescaleDB pod:
#   kubectl -n iot-pipeline cp iot_data-<stamp>.dump timescaledb-0:/tmp/restore.dump
#   kubectl -n iot-pipeline exec -i timescaledb-0 -- sh -s /tmp/restore.dump \
#       < deploy/kubernetes/tools/restore-timescaledb.sh
# Connection: libpq's variables (PGHOST, PGUSER, ...); in the pod the image's POSTGRES_USER and
# POSTGRES_DB over its local socket. The user must own the database (the image's POSTGRES_USER
# is a superuser). tests/deploy/test_backup.py runs this script against a real TimescaleDB.
set -eu
dump="${1:?usage: restore-timescaledb.sh DUMP_FILE}"
user="${PGUSER:-${POSTGRES_USER:-iot_user}}"
db="${PGDATABASE:-${POSTGRES_DB:-iot_data}}"
pg_restore --list "$dump" > /dev/null  # a readable custom-format dump, before anything is dropped
psql -v ON_ERROR_STOP=1 -U "$user" -d postgres \
    -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" -c "CREATE DATABASE \"$db\""
psql -v ON_ERROR_STOP=1 -U "$user" -d "$db" \
    -c "CREATE EXTENSION IF NOT EXISTS timescaledb" -c "SELECT timescaledb_pre_restore()"
pg_restore --no-owner --exit-on-error -U "$user" -d "$db" "$dump" || {
    status=$?
    psql -U "$user" -d "$db" -c "SELECT timescaledb_post_restore()" || true
    exit "$status"
}
psql -v ON_ERROR_STOP=1 -U "$user" -d "$db" -c "SELECT timescaledb_post_restore()" -c "ANALYZE"
echo "restored $dump into $db"
