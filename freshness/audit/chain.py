"""The hash chain: each record's hash covers the previous hash and the record's canonical content."""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS = "sha256:" + "0" * 64


def canonical(content: dict[str, Any]) -> str:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_hash(prev_hash: str, content: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    digest.update(prev_hash.encode())
    digest.update(b"\n")
    digest.update(canonical(content).encode())
    return "sha256:" + digest.hexdigest()
