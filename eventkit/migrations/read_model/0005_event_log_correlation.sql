-- The correlation id of the command call that caused each event (NULL for events written without
-- one), so that StreamEvents carries it to every subscriber. Copied from the event's metadata by
-- the projector; the rebuild fills it for every event too.
ALTER TABLE event_log ADD COLUMN correlation_id text;
