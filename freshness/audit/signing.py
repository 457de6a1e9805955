"""The service's Ed25519 key that signs checkpoints of the audit chain.

The key lives outside the database on purpose: whoever can write the database can rewrite the
chain and recompute every hash, but cannot sign a checkpoint for the result. It comes from
`FRESHNESS_AUDIT_SIGNING_KEY` (replicas share one key that way) or from a file in the data dir,
generated on first start with mode 0600. Neither the private key nor its PEM is ever put in a
response, a log line, an error message or an audit record.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from freshness.audit.schemas import Checkpoint
from freshness.errors import ConfigError
from freshness.hashing import canonical_json
from freshness.settings import Settings

log = logging.getLogger("freshness.audit")
KEY_FILE = "audit-signing-key.pem"
# Bound into every signed message, so that a signature made by this key for anything else can
# never pass for a checkpoint.
CONTEXT = b"freshness audit checkpoint v1\n"


def key_id_of(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:16]


def checkpoint_message(seq: int, record_hash: str, signed_at: str, key_id: str) -> bytes:
    """The exact bytes a checkpoint's signature covers."""
    fields = {"seq": seq, "record_hash": record_hash, "signed_at": signed_at, "key_id": key_id}
    return CONTEXT + canonical_json(fields).encode()


class Signer:
    """Signs checkpoints and checks them against its own public key."""

    __slots__ = ("_key", "key_id", "public_pem")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        public = private_key.public_key()
        self.key_id = key_id_of(public)
        self.public_pem = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()

    def __repr__(self) -> str:
        return f"Signer(key_id={self.key_id!r})"

    def sign(self, seq: int, record_hash: str, signed_at: str) -> Checkpoint:
        signature = self._key.sign(checkpoint_message(seq, record_hash, signed_at, self.key_id))
        return Checkpoint(seq=seq, record_hash=record_hash, signed_at=signed_at, key_id=self.key_id,
                          signature=base64.urlsafe_b64encode(signature).rstrip(b"=").decode())

    def refusal(self, checkpoint: Checkpoint) -> str | None:
        """Why the checkpoint's signature does not hold, or None when it does."""
        if checkpoint.key_id != self.key_id:
            return (f"the checkpoint names key {checkpoint.key_id}, but this service signs with {self.key_id}; "
                    "it was not signed here")
        try:
            raw = base64.urlsafe_b64decode(checkpoint.signature + "=" * (-len(checkpoint.signature) % 4))
            self._key.public_key().verify(raw, checkpoint_message(
                checkpoint.seq, checkpoint.record_hash, checkpoint.signed_at, checkpoint.key_id))
        except (InvalidSignature, binascii.Error, ValueError):
            return "the checkpoint's signature does not hold: it was altered or forged"
        return None


def load_signer(settings: Settings) -> Signer:
    """The key from the setting, else the data dir's key file, generated there the first time."""
    if settings.audit_signing_key:
        text = settings.audit_signing_key
        if "\n" not in text:  # a PEM squeezed onto one line with literal \n, as env files often hold it
            text = text.replace("\\n", "\n")
        return Signer(_parse(text.encode(), "FRESHNESS_AUDIT_SIGNING_KEY"))
    path = settings.data_dir / KEY_FILE
    if not path.exists():
        _generate(path)
    if path.stat().st_mode & 0o077:
        log.warning("%s was readable by others; its mode is now 0600", path)
        path.chmod(0o600)
    return Signer(_parse(path.read_bytes(), str(path)))


def _parse(pem: bytes, where: str) -> Ed25519PrivateKey:
    # The messages name where the key came from, never any of its text.
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError(f"{where} does not hold a PEM private key without a password") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{where} holds a private key that is not Ed25519")
    return key


def _generate(path: Path) -> None:
    """Write a new key with mode 0600; when two processes start at once, the first one's key wins."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    # Written completely under a private name first, so no process ever reads half a key.
    partial = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(pem)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(partial, path)
            log.info("generated the audit signing key in %s", path)
        except FileExistsError:
            pass
    finally:
        partial.unlink(missing_ok=True)
