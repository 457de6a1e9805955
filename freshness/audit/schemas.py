"""Wire schemas of the audit endpoints that have a fixed shape."""

from __future__ import annotations

import msgspec


class Checkpoint(msgspec.Struct, kw_only=True):
    """The chain head at one moment, signed by the service: an auditor keeps it elsewhere."""

    seq: int
    record_hash: str
    signed_at: str
    key_id: str
    signature: str


class PublicKey(msgspec.Struct, kw_only=True):
    """The public half of the key that signs checkpoints."""

    key_id: str
    algorithm: str
    public_key: str  # PEM, SubjectPublicKeyInfo
