"""The projector: an exactly-once catch-up subscription from the event store into the read model."""
