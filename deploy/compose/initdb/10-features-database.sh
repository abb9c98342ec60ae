#!/bin/sh
# Run once by the postgres image on an empty data directory: the features database the jobs
# read (seed-demo-data fills it) and predict writes to, beside MLflow's own database.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --dbname "$POSTGRES_DB" \
  --set db="${FEATURES_DB:-features}" <<'SQL'
CREATE DATABASE :"db";
SQL
