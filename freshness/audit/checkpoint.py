"""Signed checkpoints: what makes a rewritten, truncated or wiped audit log detectable.

The chain alone cannot tell a log that was rewritten and rehashed forward, cut at the end with the
head moved back, or emptied with the head reset, from an honest one: every link still holds. A
checkpoint is the head (seq and record hash) signed with a key that is not in the database. An
auditor keeps it elsewhere; later the record at that seq must still exist with that hash, and
the chain must still verify from the genesis hash up to it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from freshness.audit.chain import GENESIS
from freshness.audit.schemas import Checkpoint
from freshness.audit.signing import Signer
from freshness.audit.verify import verify_chain
from freshness.db import read_scope
from freshness.errors import Conflict, InvalidInput
from freshness.models import AuditChainHead, Retrieval


def take_checkpoint(sessions: sessionmaker[Session], signer: Signer, now: datetime) -> Checkpoint:
    """Sign the chain head as it is now."""
    with read_scope(sessions) as session:
        head = session.execute(select(AuditChainHead.seq, AuditChainHead.last_hash)
                               .where(AuditChainHead.id == 1)).first()
        if head is None:
            raise Conflict("the audit chain head is missing; run `freshness db upgrade`")
        at_head = (session.scalar(select(Retrieval.record_hash).where(Retrieval.seq == head.seq))
                   if head.seq else GENESIS)
    # Signing a head that no record backs would vouch for a log that is already broken.
    if at_head != head.last_hash:
        raise Conflict(f"the chain head (seq {head.seq}) does not match the record at that seq; "
                       "GET /v1/audit/verify shows where the log breaks")
    signed_at = now.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return signer.sign(head.seq, head.last_hash, signed_at)


def verify_with_checkpoint(sessions: sessionmaker[Session], signer: Signer, checkpoint: Checkpoint) -> dict[str, Any]:
    """The chain check, plus whether the log still holds what the checkpoint vouches for.

    Adds `"checkpoint": {"seq", "record_hash", "ok", "reason"}`; `ok` is false when either fails.
    """
    report = verify_chain(sessions)
    signature_problem = signer.refusal(checkpoint)
    log_problem, request_id = _log_problem(sessions, checkpoint)
    reason = signature_problem or log_problem
    report["checkpoint"] = {"seq": checkpoint.seq, "record_hash": checkpoint.record_hash,
                            "ok": reason is None, "reason": reason}
    if reason is not None:
        report["ok"] = False
    if log_problem is not None and report["first_bad"] is None:
        report["first_bad"] = {"seq": checkpoint.seq, "request_id": request_id, "problem": log_problem}
    return report


def _log_problem(sessions: sessionmaker[Session], checkpoint: Checkpoint) -> tuple[str | None, str | None]:
    if checkpoint.seq == 0:
        return (None if checkpoint.record_hash == GENESIS else "a checkpoint at seq 0 must hold the genesis hash"), None
    with read_scope(sessions) as session:
        found = session.execute(select(Retrieval.request_id, Retrieval.record_hash)
                                .where(Retrieval.seq == checkpoint.seq)).first()
    if found is None:
        return f"the record at seq {checkpoint.seq} is gone (the log was truncated or wiped)", None
    if found.record_hash != checkpoint.record_hash:
        return (f"the record at seq {checkpoint.seq} has another hash than the checkpoint's "
                "(the log was rewritten)"), found.request_id
    return None, None


CHECKPOINT_FIELDS = ("seq", "record_hash", "signed_at", "key_id", "signature")


def checkpoint_from(values: dict[str, str | None]) -> Checkpoint | None:
    """A checkpoint from query parameters: all five, or none at all."""
    # the filter keeps given values only, so none is None
    given = cast(dict[str, str],
                 {name: values.get(name) for name in CHECKPOINT_FIELDS if values.get(name) not in (None, "")})
    if not given:
        return None
    missing = [name for name in CHECKPOINT_FIELDS if name not in given]
    if missing:
        raise InvalidInput(f"a checkpoint needs {', '.join(CHECKPOINT_FIELDS)}; {missing[0]} is missing",
                           field=missing[0])
    try:
        seq = int(given["seq"])
    except ValueError:
        seq = -1
    if seq < 0:
        raise InvalidInput("seq must be a whole number, 0 or more", field="seq")
    return Checkpoint(seq=seq, record_hash=given["record_hash"], signed_at=given["signed_at"],
                      key_id=given["key_id"], signature=given["signature"])
