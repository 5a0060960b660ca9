-- The event store: one append-only table of immutable events.

CREATE TABLE events (
    -- Global position. Positions are handed out under the append lock below, so they grow in
    -- commit order (see append_lock()).
    position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id       uuid        NOT NULL,
    version         bigint      NOT NULL CHECK (version > 0),
    type            text        NOT NULL,
    schema_version  smallint    NOT NULL DEFAULT 1,
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    request_id      uuid,
    -- statement_timestamp(), not now(): the INSERT runs after the lock is taken, so record times
    -- never run backwards against positions, while now() is the (earlier) transaction start.
    record_time     timestamptz NOT NULL DEFAULT statement_timestamp(),
    -- Optimistic concurrency: two writers can never both append version N of one stream.
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, version)
);

-- Idempotency: a request id produces at most one event, whatever races the writers run.
CREATE UNIQUE INDEX events_request_id_key ON events (request_id) WHERE request_id IS NOT NULL;

-- Why a lock, and why this one.
-- An identity value is taken at INSERT but becomes visible at COMMIT. Two unserialised writers
-- A (takes 10) and B (takes 11) can commit as B then A; a follower that read "position > 9"
-- between the two commits would store checkpoint 11 and never see 10. So appends are
-- serialised: every INSERT statement first takes a transaction-level advisory lock keyed on this
-- table, before any position is drawn (statement triggers fire before the first row is
-- formed), and keeps it until its transaction has committed or rolled back. PostgreSQL makes a
-- committed transaction visible before it releases its locks, so when the next writer draws a
-- position, every smaller position is already visible or rolled back for good: once a reader
-- has seen position P, nothing below P can appear later. The trigger makes this hold for every
-- writer, including psql sessions and code that bypasses the service.
-- The cost of holding a lock across the commit's WAL flush is paid once per transaction, not per
-- event: the command service groups concurrent commands into one transaction (group commit).
CREATE FUNCTION append_lock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(TG_RELID::bigint);
    RETURN NULL;
END $$;

CREATE TRIGGER events_append_lock BEFORE INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION append_lock();

-- Listeners are woken, never fed: the payload is empty, so identical notifications of one
-- transaction collapse into one (at most one NOTIFY per transaction) and no event body ever
-- meets the 8000-byte payload limit. Readers always read the table after their checkpoint.
CREATE FUNCTION notify_appended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('users_v1_events', '');
    RETURN NULL;
END $$;

CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION notify_appended();

-- Events are immutable: the database itself refuses to change or remove them.
CREATE FUNCTION reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are immutable: % is not allowed', TG_OP
        USING ERRCODE = 'object_not_in_prerequisite_state';
END $$;

CREATE TRIGGER events_immutable BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION reject_change();

CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION reject_change();
