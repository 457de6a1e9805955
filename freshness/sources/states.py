"""The states a snapshot goes through (SPEC §2), apart from the ORM so that wire schemas and the client
can name them without SQLAlchemy."""

from __future__ import annotations

import enum


class SnapshotState(enum.StrEnum):
    INGESTING = "ingesting"
    ACTIVE = "active"
    SUPERSEDED = "superseded"
    PURGED = "purged"
    FAILED = "failed"
