"""Developer tooling: a private PostgreSQL cluster and the `make run` supervisor."""
