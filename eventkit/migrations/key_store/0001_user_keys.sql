-- The key store: one data key per user, the only mutable home of what makes names readable.
-- Events hold names sealed with these keys (eventkit/sealing.py); ForgetUser deletes a user's row,
-- and from then on nobody can open that user's names, in the event store or in any of its backups.
-- Keep this table out of the event store's backups (a schema of its own, KEY_STORE_SCHEMA, so
-- `pg_dump --exclude-schema` works; or a database of its own, KEY_STORE_DSN), and back it up on a
-- retention short enough that a forgotten user's key does not outlive the promise made to them.
CREATE TABLE user_keys (
    user_id      uuid        PRIMARY KEY,
    key          bytea       NOT NULL CHECK (length(key) = 32),
    create_time  timestamptz NOT NULL DEFAULT now()
);
