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
    chunk's id doubles as its point's id. Time-ordered, as a ULID is (48 bits of milliseconds, then random
    bits), and the ids of one call count up from one random start: a publish's chunk rows and their points'
    index entries land side by side in the database's B-trees instead of one page each, which made
    inserting them and SQLite's checkpoints the largest cost of a re-publish. Made together they cost half
    as much as ULIDs made one by one."""
    prefix, low = chunk_id_block(count)
    return [f"{prefix}{low + i:012x}" for i in range(count)]


def chunk_id_block(count: int) -> tuple[str, int]:
    """`count` chunk ids as a fixed prefix and a 48-bit start: each id is the prefix, then a number from `low`
    to `low + count` as 12 hex digits, the last group of a UUID. The prefix holds the milliseconds and 32
    random bits; `low` is random too, with room left above it for `count` values, so that the prefix never
    carries. The database can make the ids of a block itself (sources.publish copies a kept document's chunk
    rows so, numbering them from `low + 1`)."""
    high = (time.time_ns() // 1_000_000) << 32 | int.from_bytes(os.urandom(4), "big")
    low = int.from_bytes(os.urandom(6), "big") % (_LOW_VALUES - count)
    return str(uuid.UUID(int=(high << 48) & _UUID_BITS))[:CHUNK_ID_PREFIX], low


CHUNK_ID_PREFIX = 24  # characters of a UUID before its last group: 20 hex digits and four dashes
_LOW_VALUES = 1 << 48
_UUID_BITS = (1 << 128) - 1
