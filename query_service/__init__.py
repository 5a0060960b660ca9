"""The query service: serves the read model and relays events live, from the read-model database only."""
