-- The read model: what the query service serves, kept by the projector.

-- Users as their events leave them; deleted users are removed (as in the seed).
CREATE TABLE users (
    id           uuid        PRIMARY KEY,
    name         text        NOT NULL,
    version      bigint      NOT NULL,
    create_time  timestamptz NOT NULL,
    update_time  timestamptz NOT NULL,
    position     bigint      NOT NULL
);

-- ListUsers pages by (lower(name), id) with keyset pagination and filters by a case-insensitive
-- prefix. The "C" collation makes byte order the sort order, so the same index serves the ORDER BY,
-- the keyset comparison and LIKE 'prefix%' ranges whatever the database's default collation is.
CREATE INDEX users_name_key ON users ((lower(name) COLLATE "C"), id);

-- The read-side event log that StreamEvents replays from: one row per applied event.
-- `type` holds the users.v1.EventType number.
CREATE TABLE event_log (
    position     bigint      PRIMARY KEY,
    type         smallint    NOT NULL,
    user_id      uuid        NOT NULL,
    version      bigint      NOT NULL,
    name         text        NOT NULL,
    record_time  timestamptz NOT NULL
);

CREATE INDEX event_log_user_key ON event_log (user_id, position);

-- How far each projection has applied the event store, moved by compare-and-set in the same
-- transaction as the changes it covers.
CREATE TABLE projection_checkpoint (
    name              text        PRIMARY KEY,
    position          bigint      NOT NULL DEFAULT 0,
    event_time        timestamptz,
    updated_time      timestamptz NOT NULL DEFAULT now(),
    skipped_unknown   bigint      NOT NULL DEFAULT 0
);
