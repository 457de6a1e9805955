"""Sources, their snapshots, and the documents and chunks each snapshot holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
    text,
)
from sqlalchemy.orm import Mapped, aliased, mapped_column, relationship

from freshness.db import Base
from freshness.models.types import UTCDateTime
from freshness.sources.states import SnapshotState as SnapshotState  # named here too, beside the tables


class Source(Base):
    __tablename__ = "sources"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    owner: Mapped[str] = mapped_column(String(128), index=True)
    source_class: Mapped[str] = mapped_column(String(128), index=True)
    uri: Mapped[str | None] = mapped_column(String(2048))
    refresh_interval_seconds: Mapped[int | None] = mapped_column(Integer)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    active_snapshot_id: Mapped[str | None] = mapped_column(String(40), index=True)
    # Refresh bookkeeping, written by the scheduled refresh job.
    next_refresh_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    last_refresh_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_refresh_outcome: Mapped[str | None] = mapped_column(String(32))
    last_refresh_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    http_etag: Mapped[str | None] = mapped_column(String(512))
    http_last_modified: Mapped[str | None] = mapped_column(String(128))

    snapshots: Mapped[list[Snapshot]] = relationship(back_populates="source", lazy="raise_on_sql")


class Snapshot(Base):
    __tablename__ = "snapshots"
    __table_args__ = (
        # At most one publish in progress and one active snapshot per source, enforced by the database
        # so that two replicas racing each other cannot both win.
        Index(
            "uq_snapshots_one_ingesting",
            "source_id",
            unique=True,
            sqlite_where=text("state = 'ingesting'"),
            postgresql_where=text("state = 'ingesting'"),
        ),
        Index(
            "uq_snapshots_one_active",
            "source_id",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
        Index("ix_snapshots_source_created", "source_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id"))
    version: Mapped[str | None] = mapped_column(String(256))
    state: Mapped[str] = mapped_column(String(16), index=True)
    content_hash: Mapped[str] = mapped_column(String(80))
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime())
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime())
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failure_reason: Mapped[str | None] = mapped_column(Text)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    document_count: Mapped[int] = mapped_column(Integer, default=0)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    has_dense: Mapped[bool] = mapped_column(Boolean, default=False)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    source: Mapped[Source] = relationship(back_populates="snapshots", lazy="raise_on_sql")


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("snapshot_id", "document_id"),)

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    snapshot_id: Mapped[str] = mapped_column(ForeignKey("snapshots.id"), index=True)
    document_id: Mapped[str] = mapped_column(String(512))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(String(1000))
    uri: Mapped[str | None] = mapped_column(String(2048))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    content_hash: Mapped[str] = mapped_column(String(80))
    chunk_count: Mapped[int] = mapped_column(Integer)
    # The document exactly as sent, with the settings that cut it (sources.prepare.sent_hash); none for
    # documents stored before it was kept.
    sent_hash: Mapped[str | None] = mapped_column(String(80))


class Chunk(Base):
    __tablename__ = "chunks"
    __table_args__ = (
        Index("ix_chunks_snapshot_position", "snapshot_id", "document_id", "position"),
        # Only the rows that hold a text, so a kept document's copies cost no entry in it: each would land
        # on a page of its own (content hashes are random), and those pages were most of a re-publish.
        Index("ix_chunks_source_hash", "source_id", "content_hash", sqlite_where=text("text IS NOT NULL"),
              postgresql_where=text("text IS NOT NULL")),
        # Snapshot first, so a new snapshot's rows are added at the end of the index.
        Index("ix_chunks_snapshot_point", "snapshot_id", "point_id"),
    )

    chunk_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    snapshot_id: Mapped[str] = mapped_column(ForeignKey("snapshots.id"))
    source_id: Mapped[str] = mapped_column(String(128))
    document_id: Mapped[str] = mapped_column(String(512))
    position: Mapped[int] = mapped_column(Integer)
    # None in a row copied for a kept document: the text is stored once, in the row of the snapshot that
    # first held the chunk (the row whose chunk id is the point id); `chunk_text` reads it from there.
    text: Mapped[str | None] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(80))
    # The store point holding this chunk's vectors: shared by the chunk rows of every snapshot of the
    # source that kept the chunk's document unchanged. It is named after the row that first held it.
    point_id: Mapped[str] = mapped_column(String(40))


_HOLDER = aliased(Chunk)


def chunk_text(row: Any = Chunk) -> ColumnElement[str]:
    """A chunk row's text, wherever it is stored: its own, or that of the row which holds its point's."""
    stored = select(_HOLDER.text).where(_HOLDER.chunk_id == row.point_id).scalar_subquery()
    return func.coalesce(row.text, stored)
