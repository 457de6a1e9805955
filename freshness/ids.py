"""Identifiers: time-ordered ULIDs with a prefix that says what they name."""

from __future__ import annotations

import os
import time
import uuid

from ulid import ULID


def new_snapshot_id() -> str:
    return f"snap_{ULID()}"


def new_key_id() -> str:
    return f"key_{ULID()}"


def new_request_id() -> str:
    return f"req_{ULID()}"


def new_chunk_ids(count: int) -> list[str]:
    """Ids for a publish's new chunk rows, made together. Qdrant point ids must be integers or UUIDs; a new
    chunk's id doubles as its point's id. Time-ordered, as a ULID is (48 bits of milliseconds, then 80 random
    bits), and the ids of one call count up from one random start: a publish's chunk rows and their points'
    index entries land side by side in the database's B-trees instead of one page each, which made
    inserting them and SQLite's checkpoints the largest cost of a re-publish. Made together they cost half
    as much as ULIDs made one by one."""
    start = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    return [str(uuid.UUID(int=(start + i) & _UUID_BITS)) for i in range(count)]


_UUID_BITS = (1 << 128) - 1
