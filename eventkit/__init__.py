"""Code the three services (and, for retries, their client) share: configuration, database access, the error table, the server skeleton."""
