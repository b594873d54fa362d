#!/bin/sh
# Run once by the postgres image on an empty data volume: the services' own role, owner of
# their database (it applies the migrations), so that they never log in as the superuser.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" -v password="$POSTGRES_INTAKE_PASSWORD" <<'SQL'
CREATE ROLE intake LOGIN PASSWORD :'password';
CREATE DATABASE intake OWNER intake;
SQL
