"""`python -m eventkit.migrations`: brings the event store and the read model up to date as their owner, then exits.

Reads EVENT_STORE_MIGRATION_DSN (which also migrates the key store beside it, unless KEY_STORE_DSN
and KEY_STORE_MIGRATION_DSN name another database) and READ_MODEL_MIGRATION_DSN, the schemas, and
the role names to grant (DB_ROLE_*). The services then run with their own, unprivileged DSNs.
"""

from __future__ import annotations

import sys

import psycopg

from eventkit import config, logs, migrations, startup


def main() -> int:
    """Migrates every database whose migration DSN is set; returns the exit code."""
    settings = config.load(config.common, "migrations")
    logs.configure(settings.log_level, settings.log_format, "migrations")
    targets = [
        (config.load(lambda: config.event_store(dsn_required=False), "migrations"), "event_store"),
        # The users' data keys: beside the event store unless KEY_STORE_DSN names another database.
        (config.load(lambda: config.key_store(dsn_required=False), "migrations"), "key_store"),
        (config.load(lambda: config.read_model(dsn_required=False), "migrations"), "read_model"),
    ]
    todo = [(database, component) for database, component in targets if database.migration_dsn]
    if not todo:
        print("migrations: set EVENT_STORE_MIGRATION_DSN and/or READ_MODEL_MIGRATION_DSN", file=sys.stderr)
        return 2
    for database, component in todo:
        try:
            startup.prepare(database, component)
        except psycopg.Error as exc:
            print(f"migrations: {component} ({database.schema}): {str(exc).strip()}", file=sys.stderr)
            return 1
        print(f"migrations: {component} ({database.schema}) is at version {migrations.expected_version(component)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
