"""Test harness: a throwaway PostgreSQL cluster, service processes, and waiting on conditions."""
