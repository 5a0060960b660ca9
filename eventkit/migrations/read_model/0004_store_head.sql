-- The event store's head as the projector last read it, and when (on the read model's clock, taken
-- before the read). StreamEvents uses it to refuse an after_position beyond the store's head, which
-- would otherwise skip every event written up to it: only a reading taken after a request arrived
-- can tell "not written yet" from "written, not projected yet" (see query_service/horizon.py).
ALTER TABLE projector_status ADD COLUMN store_head bigint, ADD COLUMN store_head_time timestamptz;
