#!/bin/sh
# Runs once, when the postgres container initialises an empty data directory (the
# official image runs /docker-entrypoint-initdb.d/*). It creates the ordinary login role
# the application connects as. POSTGRES_USER (the superuser) runs the migrations and
# `manage.py protect_audit_log`, which gives the append-only tables to a separate owner
# role; the application role can then neither disable their triggers nor truncate them
# (docs/audit.md, "Who may touch the log").
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app_password="$POSTGRES_APP_PASSWORD" <<'SQL'
CREATE ROLE clearinghouse_app LOGIN PASSWORD :'app_password';
GRANT CONNECT, TEMPORARY ON DATABASE clearinghouse TO clearinghouse_app;
SQL
