"""What became of an answer: one outcome per retrieval, reported by the application that asked.

Append-only, like the audit record it sits beside: no code path updates or deletes a row. The task
class and serve time are copied from the record so trust figures group and window outcomes without
reading the records' content.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from freshness.db import Base
from freshness.models.types import UTCDateTime


class Outcome(Base):
    __tablename__ = "outcomes"
    __table_args__ = (Index("ix_outcomes_task_served", "task_class", "served_at"),)

    request_id: Mapped[str] = mapped_column(ForeignKey("retrievals.request_id"), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16))  # accepted | edited | escalated | rejected | fallback
    edit_seconds: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(40))
    task_class: Mapped[str] = mapped_column(String(128))
    served_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
