"""Content hashes: canonical JSON, and sha256 written `sha256:<64 hex digits>`.

Documents, snapshots, policy versions, audit records and API keys are stored under these hashes
and checked against them later (audit verify, snapshot verify, a key at every request), so the
bytes hashed must never change: keys sorted, no spaces, text as UTF-8 rather than `\\u` escapes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def sha256_text(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(value: Any) -> str:
    """The hash of a JSON value's canonical form."""
    return sha256_text(canonical_json(value))
