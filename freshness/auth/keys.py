"""Creating, checking and revoking API keys. Keys are shown once and stored only as hashes.

Every request looks its key up in the database (a read that takes no write lock), so a key
revoked by any process or replica stops working with the next request.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, func, select
from sqlalchemy.orm import Session

from freshness.errors import Conflict, InvalidInput, NotFound, Unauthorized
from freshness.hashing import sha256_text
from freshness.ids import new_key_id
from freshness.models import ApiKey
from freshness.sources.schemas import OWNER_PATTERN

KEY_PATTERN = re.compile(r"^fk_[A-Za-z0-9_-]{32,}$")
_OWNER = re.compile(OWNER_PATTERN)


class Role(StrEnum):
    READER = "reader"
    PUBLISHER = "publisher"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    role: Role
    owner: str | None


def generate_key() -> str:
    return "fk_" + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return sha256_text(key)


def create_key(
    session: Session, role: str, name: str, now: datetime, owner: str | None = None, value: str | None = None
) -> tuple[ApiKey, str]:
    """A new key; returns the row and the key itself, which is never stored."""
    try:
        role_ = Role(role)
    except ValueError as exc:
        raise InvalidInput(f"role {role!r} is not one of reader, publisher, auditor, admin", field="role") from exc
    if role_ is Role.PUBLISHER and not owner:
        raise InvalidInput("a publisher key must be bound to an owner (--owner)", field="owner")
    if role_ is not Role.PUBLISHER and owner:
        raise InvalidInput("only publisher keys are bound to an owner", field="owner")
    if owner and not _OWNER.match(owner):
        raise InvalidInput(f"owner {owner!r} is not a valid owner name", field="owner")
    key = value or generate_key()
    if not KEY_PATTERN.match(key):
        raise InvalidInput("a key is fk_ followed by at least 32 characters of A-Za-z0-9_-", field="key")
    digest = hash_key(key)
    if session.scalar(select(ApiKey.id).where(ApiKey.key_hash == digest)):
        raise Conflict("that key already exists")
    row = ApiKey(id=new_key_id(), name=name or role_.value, role=role_.value, owner=owner, key_hash=digest,
                 created_at=now)
    session.add(row)
    session.flush()
    return row, key


def authenticate(session: Session | Connection, header: str | None) -> Principal:
    conn = session if isinstance(session, Connection) else session.connection()
    return principal_of(conn.execute(BY_HASH, {"key_hash": key_hash_of(header)}).first())


def key_hash_of(header: str | None) -> str:
    """The hash a key is stored under, from an `Authorization` header; 401 when it holds no well-formed key."""
    # The scheme name is case-insensitive (RFC 9110 §11.1): `bearer` and `BEARER` are `Bearer`.
    scheme, _, token = (header or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send the API key as `Authorization: Bearer fk_...`")
    if not KEY_PATTERN.match(token):
        raise Unauthorized("the API key is malformed; keys look like fk_ followed by 32+ characters")
    return hash_key(token)


def principal_of(row: Sequence[Any] | None) -> Principal:
    """The caller, from a row of BY_HASH (None: no key has that hash); 401 for an unknown or revoked key."""
    if row is None:
        raise Unauthorized("the API key is unknown or revoked")
    key_id, name, role, owner, revoked_at = row
    if revoked_at is not None:
        raise Unauthorized("the API key is unknown or revoked")
    return Principal(key_id=key_id, name=name, role=Role(role), owner=owner)


# Every request runs this: built once, on the table (the ORM's loading of an entity costs more than the
# indexed read itself). Its columns are the ones principal_of takes, in its order.
_KEYS = cast(Table, ApiKey.__table__)
BY_HASH = select(_KEYS.c.id, _KEYS.c.name, _KEYS.c.role, _KEYS.c.owner, _KEYS.c.revoked_at).where(
    _KEYS.c.key_hash == bindparam("key_hash"))


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))


def revoke_key(session: Session, key_id: str, now: datetime) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"no key with id {key_id!r}; `freshness keys list` shows them")
    if row.revoked_at is None:
        row.revoked_at = now
    session.flush()
    return row


def ensure_admin_key(session: Session, value: str, now: datetime) -> bool:
    """Create the admin key with this value once; a revoked one stays revoked. True if created."""
    if session.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_key(value))):
        return False
    create_key(session, "admin", "admin (FRESHNESS_ADMIN_KEY)", now, value=value)
    return True


def bootstrap_admin_key(session: Session, data_dir: Path, now: datetime) -> str | None:
    """With no key at all, make an admin key and write it to a 0600 file. Returns it when made."""
    if session.scalar(select(func.count()).select_from(ApiKey)):
        return None
    _, key = create_key(session, "admin", "bootstrap admin", now)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "admin.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    os.chmod(path, 0o600)
    return key
