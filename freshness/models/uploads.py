"""Staged uploads: the documents of a snapshot too large for one request body, held until they are
committed as one publish, abandoned, or left idle past their expiry.

They live in the database, not in a replica's memory, so the batches of one upload may reach any
replica and the commit another.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from freshness.db import Base
from freshness.models.types import UTCDateTime


class UploadState(enum.StrEnum):
    OPEN = "open"
    COMMITTING = "committing"  # a commit is publishing it; a second commit meanwhile is a 409


class Upload(Base):
    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id"), index=True)
    opened_by: Mapped[str] = mapped_column(String(40))  # the key id, never the key
    version: Mapped[str | None] = mapped_column(String(256))
    captured_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Every batch moves the expiry: it is the idle time that ends an upload, not its age.
    touched_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    document_count: Mapped[int] = mapped_column(Integer, default=0)
    byte_count: Mapped[int] = mapped_column(BigInteger, default=0)
    # The dimension of the first vectors sent: every later batch must match it, as one publish would.
    vector_size: Mapped[int | None] = mapped_column(Integer)


class UploadDocument(Base):
    """One received document, kept as the JSON it came in (a `DocumentIn`), in the order received."""

    __tablename__ = "upload_documents"
    __table_args__ = (UniqueConstraint("upload_id", "document_id"),)

    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[str] = mapped_column(String(512))
    body: Mapped[str] = mapped_column(Text)
