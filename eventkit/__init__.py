"""Code the three services share: configuration, database access, the error table, the server skeleton."""
