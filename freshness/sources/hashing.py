"""Content hashes: a document's covers its id, title, uri, metadata and text or chunks."""

from __future__ import annotations

from typing import Any

from freshness.hashing import content_hash, sha256_text


def document_hash(
    doc_id: str, title: str | None, uri: str | None, metadata: dict, text: str | None, chunks: list[str] | None
) -> str:
    body: dict[str, Any] = {"id": doc_id, "title": title, "uri": uri, "metadata": metadata}
    if chunks is not None:
        body["chunks"] = chunks
    else:
        body["text"] = text
    return content_hash(body)


def snapshot_hash(document_hashes: list[tuple[str, str]]) -> str:
    """sha256 over the documents' hashes in document-id order, each followed by a newline."""
    return sha256_text("".join(f"{doc_hash}\n" for _, doc_hash in sorted(document_hashes)))
