"""The hash chain: each record's hash covers the previous hash and the record's canonical content."""

from __future__ import annotations

from typing import Any

from freshness.hashing import canonical_json, sha256_text

GENESIS = "sha256:" + "0" * 64
"""The previous hash of the first record, and the head of an empty chain."""


def record_hash(prev_hash: str, content: dict[str, Any]) -> str:
    return chained_hash(prev_hash, canonical_json(content))


def chained_hash(prev_hash: str, canonical_content: str) -> str:
    """`record_hash` of content already in its canonical JSON (freshness.hashing.canonical_json)."""
    return sha256_text(f"{prev_hash}\n{canonical_content}")
