"""Identifiers: time-ordered ULIDs with a prefix that says what they name."""

from __future__ import annotations

import uuid

from ulid import ULID


def new_snapshot_id() -> str:
    return f"snap_{ULID()}"


def new_key_id() -> str:
    return f"key_{ULID()}"


def new_request_id() -> str:
    return f"req_{ULID()}"


def new_chunk_id() -> str:
    # Qdrant point ids must be integers or UUIDs; the chunk id doubles as the point id.
    return str(uuid.uuid4())
