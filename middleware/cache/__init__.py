"""Caching of upstream answers below policy and plugins: reads, and read-only tool results."""
