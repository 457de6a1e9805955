"""Content hashes: a document's covers its id, title, uri, metadata and text or chunks."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def sha256_text(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def document_hash(
    doc_id: str, title: str | None, uri: str | None, metadata: dict, text: str | None, chunks: list[str] | None
) -> str:
    body: dict[str, Any] = {"id": doc_id, "title": title, "uri": uri, "metadata": metadata}
    if chunks is not None:
        body["chunks"] = chunks
    else:
        body["text"] = text
    return sha256_text(canonical_json(body))


def snapshot_hash(document_hashes: list[tuple[str, str]]) -> str:
    """sha256 over the documents' hashes in document-id order."""
    digest = hashlib.sha256()
    for _, doc_hash in sorted(document_hashes):
        digest.update(doc_hash.encode())
        digest.update(b"\n")
    return "sha256:" + digest.hexdigest()
