#!/bin/sh
# Creates the project's PostgreSQL roles when a server's data volume is first initialised (the
# postgres image runs /docker-entrypoint-initdb.d/* once, as the superuser POSTGRES_USER):
#   users_owner      owns POSTGRES_DB; runs the migrations (the `migrate` step) and nothing else;
#   users_command, users_projector, users_query
#                    the services' own logins: not superusers, owning nothing; what each may touch
#                    is granted by the migrations (eventkit/migrations/grants.py).
# A service role is created only where its password variable is set, so each server knows only
# the roles that use it. Passwords travel as psql variables (:'...'), quoted by psql, never pasted
# into SQL text. Running it again is harmless: existing roles get the password given now.
set -eu

create_role() {
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
        -v role="$1" -v password="$2" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION', :'role')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" PASSWORD :'password';
SQL
}

create_role users_owner "$USERS_OWNER_PASSWORD"
if [ -n "${USERS_COMMAND_PASSWORD:-}" ]; then create_role users_command "$USERS_COMMAND_PASSWORD"; fi
if [ -n "${USERS_PROJECTOR_PASSWORD:-}" ]; then create_role users_projector "$USERS_PROJECTOR_PASSWORD"; fi
if [ -n "${USERS_QUERY_PASSWORD:-}" ]; then create_role users_query "$USERS_QUERY_PASSWORD"; fi

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
ALTER DATABASE :"DBNAME" OWNER TO users_owner;
ALTER SCHEMA public OWNER TO users_owner;
SQL
