"""The audit log: one record per retrieval, its served and rejected chunks as searchable rows,
and the head of the hash chain that links the records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from freshness.db import Base
from freshness.models.types import UTCDateTime


class Retrieval(Base):
    __tablename__ = "retrievals"
    __table_args__ = (Index("ix_retrievals_task_served", "task_class", "served_at"),)

    request_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    served_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    task_class: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(32), index=True)
    policy_version: Mapped[str] = mapped_column(String(80))
    key_id: Mapped[str] = mapped_column(String(40))
    # The record as it was served, canonical JSON: the hash chain covers exactly this.
    content: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(80))
    record_hash: Mapped[str] = mapped_column(String(80))


class RetrievalChunk(Base):
    __tablename__ = "retrieval_chunks"
    __table_args__ = (
        Index("ix_retrieval_chunks_snapshot", "snapshot_id", "seq"),
        Index("ix_retrieval_chunks_source", "source_id", "seq"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("retrievals.request_id"), index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # served | rejected
    rank: Mapped[int | None] = mapped_column(Integer)
    chunk_id: Mapped[str] = mapped_column(String(40))
    source_id: Mapped[str] = mapped_column(String(128))
    # The class the chunk was judged under (a source may change class later); null only for rows
    # recorded before the column existed whose record names no class.
    source_class: Mapped[str | None] = mapped_column(String(128))
    snapshot_id: Mapped[str] = mapped_column(String(40))
    freshness: Mapped[str] = mapped_column(String(16))
    age_seconds: Mapped[int] = mapped_column(BigInteger)
    max_age_seconds: Mapped[int] = mapped_column(BigInteger)
    score: Mapped[float | None] = mapped_column(Float)


class AuditChainHead(Base):
    """One row, locked by every audit write, so the chain stays linear across threads and replicas."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(80))
    note: Mapped[str | None] = mapped_column(Text)
