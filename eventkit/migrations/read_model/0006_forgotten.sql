-- Forgotten users (ForgetUser): their event-log rows keep the envelope, lose the name, and say so,
-- so that StreamEvents can tell an erased name from an event that never had one.
ALTER TABLE event_log ADD COLUMN forgotten boolean NOT NULL DEFAULT false;
