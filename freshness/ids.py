"""Identifiers: time-ordered ULIDs with a prefix that says what they name."""

from __future__ import annotations

from ulid import ULID


def new_snapshot_id() -> str:
    return f"snap_{ULID()}"


def new_key_id() -> str:
    return f"key_{ULID()}"


def new_request_id() -> str:
    return f"req_{ULID()}"


def new_chunk_id() -> str:
    # Qdrant point ids must be integers or UUIDs; a new chunk's id doubles as its point's id. Time-ordered (a
    # ULID's bits as a UUID): a publish's chunk rows and their points' index entries land side by side in
    # the database's B-trees instead of one page each, which made inserting them and SQLite's checkpoints
    # the largest cost of a re-publish.
    return str(ULID().to_uuid())
