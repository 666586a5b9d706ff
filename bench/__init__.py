"""Benchmarks: ``make bench``. Nothing here is reachable from Steward's configuration."""
