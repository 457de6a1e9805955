"""Expiry of staged uploads: an upload idle for an hour is dropped with everything it received.

A request already refuses an expired upload; this job reclaims the rows, a few uploads per
transaction, so that a large one never holds the database's write lock for long.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from freshness.db import read_scope, session_scope
from freshness.models import Upload
from freshness.runtime import Runtime
from freshness.uploads.service import expire_idle

UPLOADS_PER_TRANSACTION = 20


def expire_uploads(runtime: Runtime, keep_alive: Callable[[], None] = lambda: None) -> dict[str, int]:
    now = runtime.clock.now()
    uploads = documents = 0
    while True:
        keep_alive()
        with session_scope(runtime.sessions) as session:
            dropped, rows = expire_idle(session, now, UPLOADS_PER_TRANSACTION)
        uploads += dropped
        documents += rows
        if dropped < UPLOADS_PER_TRANSACTION:
            return {"uploads_expired": uploads, "documents_dropped": documents}


def has_expired(runtime: Runtime) -> bool:
    """Whether any upload is past its expiry: without one the run is skipped, not recorded."""
    with read_scope(runtime.sessions) as session:
        return session.scalar(select(Upload.id).where(Upload.expires_at <= runtime.clock.now()).limit(1)) is not None
