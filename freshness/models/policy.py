"""Every policy version the service has loaded, kept so audit records can point at it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from freshness.db import Base
from freshness.models.types import UTCDateTime


class PolicyVersion(Base):
    __tablename__ = "policy_versions"

    version: Mapped[str] = mapped_column(String(80), primary_key=True)
    canonical: Mapped[dict[str, Any]] = mapped_column(JSON)
    source_text: Mapped[str] = mapped_column(Text)
    first_loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())
