"""Unit tests of the benchmark's own arithmetic and reporting (no I/O)."""
