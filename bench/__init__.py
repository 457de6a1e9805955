"""Benchmarks: what freshness enforcement and audit cost over querying Qdrant Edge directly.

`python -m bench --size tiny|small|large` builds a seeded corpus, publishes it, queries it
in-process and over HTTP, fills an audit log, and prints a table. Programs, not tests.
"""
