"""What changed between two snapshots of a source: documents added, removed and changed, and the text
of a changed document line by line (difflib)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from freshness.models import Chunk, Document
from freshness.models.sources import chunk_text

MAX_DIFF_LINES = 2_000  # a page shows this much of one document's diff; the rest is counted, not shown
Change = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class DocumentChange:
    document_id: str
    title: str | None
    change: Change
    before_hash: str | None
    after_hash: str | None


@dataclass(frozen=True)
class DiffLine:
    kind: Literal["added", "removed", "context", "hunk"]
    text: str


def compare(before: list[Document], after: list[Document]) -> list[DocumentChange]:
    """Documents by id: in `after` only (added), in `before` only (removed), or in both with another
    hash (changed: its text, title, uri or metadata differ). Unchanged documents are left out."""
    old = {d.document_id: d for d in before}
    new = {d.document_id: d for d in after}
    changes: list[DocumentChange] = []
    for document_id in sorted(old.keys() | new.keys()):
        was, now = old.get(document_id), new.get(document_id)
        if was is None and now is not None:
            changes.append(DocumentChange(document_id, now.title, "added", None, now.content_hash))
        elif now is None and was is not None:
            changes.append(DocumentChange(document_id, was.title, "removed", was.content_hash, None))
        elif was is not None and now is not None and was.content_hash != now.content_hash:
            changes.append(DocumentChange(document_id, now.title, "changed", was.content_hash, now.content_hash))
    return changes


def document_lines(session: Session, snapshot_id: str, document_id: str) -> list[str]:
    """A document's text as stored, chunk after chunk (texts stay after a snapshot's vectors are purged)."""
    texts = session.scalars(select(chunk_text()).where(Chunk.snapshot_id == snapshot_id,
                                                       Chunk.document_id == document_id).order_by(Chunk.position))
    return [line for text in texts for line in text.splitlines()]


def text_diff(before: list[str], after: list[str], before_name: str, after_name: str) -> tuple[list[DiffLine], int]:
    """A unified diff as lines to show, and how many more lines there were past MAX_DIFF_LINES."""
    shown: list[DiffLine] = []
    hidden = 0
    for line in difflib.unified_diff(before, after, before_name, after_name, lineterm="", n=2):
        if line.startswith(("---", "+++")):
            continue
        if len(shown) >= MAX_DIFF_LINES:
            hidden += 1
            continue
        if line.startswith("@@"):
            shown.append(DiffLine("hunk", line))
        elif line.startswith("+"):
            shown.append(DiffLine("added", line[1:]))
        elif line.startswith("-"):
            shown.append(DiffLine("removed", line[1:]))
        else:
            shown.append(DiffLine("context", line[1:]))
    return shown, hidden
