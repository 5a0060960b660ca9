-- Stream heads: what deciding a command needs of a user, kept so a command reads O(1) rows
-- instead of the user's whole history.
--
-- Never a second source of truth. A head is a cache of the fold of the user's events (and of
-- whether the user's data key existed), rewritten in the same transaction, under the append lock,
-- as every command that reads the user appends. The command service trusts a head only when it
-- matches the store: `version` and `position` must be those of the stream's last event (read by
-- the (stream_id, version) key, one index probe), `keyed` must match the key table, and
-- `checksum` must match the row's other columns. Anything else (a missing row, an event appended
-- by a writer that bypassed the service, a hand-edited or damaged row) makes the service fold the
-- events again and rewrite the head. Dropping every row is always safe: each user's next command
-- rebuilds its own.
--
-- A head keeps no name: deciding needs none, every answer takes names from the events, and a
-- copy here would outlive the key that ForgetUser destroys. AddUser writes no head (its one-INSERT
-- transaction stays as it is); a user's first command that reads it makes its head.
CREATE TABLE stream_heads (
    stream_id          uuid        PRIMARY KEY,
    version            bigint      NOT NULL CHECK (version > 0),
    position           bigint      NOT NULL,
    deleted            boolean     NOT NULL,
    forgotten          boolean     NOT NULL,
    forgotten_version  bigint      NOT NULL,
    keyed              boolean     NOT NULL,
    create_time        timestamptz NOT NULL,
    checksum           text        NOT NULL
);
