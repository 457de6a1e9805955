"""What both retrievers put in a chunk's metadata, and when they refuse an answer. No framework here."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from freshness.client.errors import InsufficientContext
from freshness.retrieval.schemas import Result, RetrieveResponse

OnInsufficient = Literal["raise", "return"]


def _moment(value: datetime) -> str:
    """As the API writes it (`2026-11-28T09:00:00Z`)."""
    return str(msgspec.to_builtins(value))


def chunk_metadata(answer: RetrieveResponse, result: Result) -> dict[str, Any]:
    """The keys SPEC §10 lists, as JSON values (times as RFC 3339 text), so a framework can store, trace or
    show them as they are."""
    return {
        "request_id": answer.request_id,
        "status": answer.status,
        "rank": result.rank,
        "chunk_id": result.chunk_id,
        "source_id": result.source_id,
        "snapshot_id": result.snapshot_id,
        "snapshot_version": result.snapshot_version,
        "document_id": result.document_id,
        "uri": result.uri,
        "captured_at": _moment(result.captured_at),
        "verified_at": _moment(result.verified_at),
        "age_seconds": result.age_seconds,
        "freshness": result.freshness,
        "score": result.score,
    }


def passed(answer: RetrieveResponse, on_insufficient: OnInsufficient) -> list[Result]:
    """The chunks to hand on. `insufficient_context` raises, so that the application's fallback runs, unless
    the retriever was built with on_insufficient="return" (then whatever passed, maybe nothing)."""
    if on_insufficient == "raise":
        InsufficientContext.check(answer)
    return answer.results
