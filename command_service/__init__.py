"""The command service: validates commands and appends the events they produce to the event store."""
