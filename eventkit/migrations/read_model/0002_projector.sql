-- The projector's own bookkeeping: who leads, whether it is alive, why it is stuck, what was skipped.

-- One row per projection (name = PROJECTION_NAME). The leader moves heartbeat_time every few
-- seconds even when idle, so a reader can tell "idle" from "dead".
CREATE TABLE projector_status (
    name              text        PRIMARY KEY,
    -- host:pid of the projector that holds the leader lock (last one to, once it is gone).
    leader            text,
    leader_since      timestamptz,
    heartbeat_time    timestamptz,
    -- The position the projector cannot apply, while it cannot; NULL when it is not stalled.
    stalled_position  bigint,
    last_error        text,
    last_error_time   timestamptz,
    -- Events passed over by an operator's `skip` (they get no event_log row).
    skipped_operator  bigint      NOT NULL DEFAULT 0
);

-- Positions an operator told the projector to pass over (`python -m projector_service skip P`).
-- The projector honours them in every run and every rebuild: the checkpoint moves past them
-- and they change nothing in the read model.
CREATE TABLE projector_skip (
    name       text        NOT NULL,
    position   bigint      NOT NULL,
    reason     text        NOT NULL DEFAULT '',
    skip_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, position)
);
