"""Verifying the audit log: the hash chain, and every column of every row against the hashed content.

A record's hash covers its `content` only. Lookups filter on the columns beside it (`served_at`,
`status`, the chunk rows' `snapshot_id` and `source_id`...), so a column that no longer says what
the content says is a changed record, and so is a chunk row missing, added or moved to another
record. The one column not held to the content is `retrieval_chunks.id`, a row number with no meaning.

Each page of records is read in its own short read unit of work (`read_scope`): on SQLite a deferred
BEGIN under WAL, which neither waits for nor blocks the one writer; on PostgreSQL statements in
autocommit, which no write waits on. A verify of a million records thus never holds up the audit
writes of retrievals, and it also checks the records appended while it runs. Because pages see the
log at different moments, what looks like a missing tail is looked at once more before it is reported.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, String, Text, exists, func, select, type_coerce
from sqlalchemy.orm import Session, sessionmaker

from freshness.audit.chain import GENESIS, record_hash
from freshness.db import read_scope
from freshness.models import AuditChainHead, Retrieval, RetrievalChunk

VERIFY_BATCH = 2_000
ORPHAN_WINDOW = 50_000  # chunk row ids looked at per read when searching rows that belong to no record

_RECORDS = Retrieval.__table__
_CHUNKS = RetrievalChunk.__table__
# Read as the database holds them, so that a value edited into something the column's type cannot
# parse is reported as a change instead of failing the whole check.
_RECORD_COLUMNS = [type_coerce(c, String).label(c.name) if c.name == "served_at"
                   else type_coerce(c, Text).label(c.name) if c.name == "content" else c for c in _RECORDS.c]
_HEAD = select(AuditChainHead.seq, AuditChainHead.last_hash).where(AuditChainHead.id == 1)
# source_class last: the class each chunk was judged under, which the policy dry run reads.
_CHUNK_COLUMNS = ("request_id", "seq", "kind", "rank", "chunk_id", "source_id", "snapshot_id", "freshness",
                  "age_seconds", "max_age_seconds", "score", "source_class")


def verify_chain(sessions: sessionmaker[Session]) -> dict[str, Any]:
    """Walk the log in order; report the first record that was changed, deleted, added or moved.

    `{"ok", "records_checked", "first_bad": {"seq", "request_id", "problem"} | None}`.
    """
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    head_before = None  # the head as seen after the previous page came back empty
    while True:
        with read_scope(sessions) as session:
            batch = session.execute(select(*_RECORD_COLUMNS).where(_RECORDS.c.seq >= expected_seq)
                                    .order_by(_RECORDS.c.seq).limit(VERIFY_BATCH)).all()
            chunks = _chunk_rows(session, [r.request_id for r in batch])
            # Read after the records: a head past them is either a record appended meanwhile or a cut tail.
            head = session.execute(_HEAD).first()
        for record in batch:
            problem = _check(record, expected_seq, expected_prev, chunks.get(record.request_id, []))
            if problem:
                return _bad(checked, record.seq, record.request_id, problem)
            checked += 1
            expected_prev, expected_seq = record.record_hash, record.seq + 1
        last_seq = expected_seq - 1
        if batch:
            head_before = None
            continue
        if head is None:  # a database from before the chain head existed
            break
        if head_before is not None and head_before.seq > last_seq:
            # The head was read before this page, so the records it vouches for were committed by then.
            return _bad(checked, last_seq + 1, None,
                        f"records after seq {last_seq} are missing (the chain head is at {head_before.seq})")
        if head.seq > last_seq:
            head_before = head
            continue
        head_problem = _head_problem(sessions, head, last_seq, expected_prev)
        if head_problem:
            return head_problem
        break
    return _orphans(sessions, checked) or {"ok": True, "records_checked": checked, "first_bad": None}


def _chunk_rows(session: Session, request_ids: list[str]) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = {}
    if request_ids:
        columns = [_CHUNKS.c[name] for name in _CHUNK_COLUMNS]
        for row in session.execute(select(*columns).where(_CHUNKS.c.request_id.in_(request_ids))):
            grouped.setdefault(row.request_id, []).append(row)
    return grouped


def _check(record: Row, expected_seq: int, expected_prev: str, chunks: list[Row]) -> str | None:
    if record.seq != expected_seq:
        return f"record seq {expected_seq} is missing (deleted); the next is {record.seq}"
    if record.prev_hash != expected_prev:
        return "prev_hash does not match the previous record's hash (deleted or inserted out of order)"
    content = _as_json(record.content)
    if not isinstance(content, dict) or record_hash(record.prev_hash, content) != record.record_hash:
        return "the record's content does not match its hash (changed)"
    for column, hashed in _hashed_columns(content).items():
        held = _as_time(getattr(record, column)) if column == "served_at" else getattr(record, column)
        if held != hashed:
            return f"the record's {column} column does not match its hashed content (changed)"
    return _chunks_problem(record, content, chunks)


def _as_json(value: Any) -> Any:
    if not isinstance(value, str):  # drivers that parse JSON themselves (psycopg)
        return value
    try:
        return json.loads(value)
    except ValueError:
        return None


def _as_time(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _hashed_columns(content: dict[str, Any]) -> dict[str, Any]:
    """What each column of `retrievals` must hold, taken from the hashed content."""
    return {
        "request_id": content.get("request_id"),
        "served_at": _as_time(content.get("served_at")),
        "task_class": content.get("task_class"),
        "status": content.get("status"),
        "policy_version": content.get("policy_version"),
        "key_id": (content.get("principal") or {}).get("key_id"),
    }


def _chunks_problem(record: Row, content: dict[str, Any], chunks: list[Row]) -> str | None:
    results, rejected = content.get("results") or [], content.get("rejected") or []
    # Records written before the served chunks' max age was hashed cannot vouch for that column.
    served_max_age = all("max_age_seconds" in r for r in results)
    try:
        sources = content["sources"]
        expected = Counter(
            [(record.request_id, record.seq, "served", r["rank"], r["chunk_id"], r["source_id"], r["snapshot_id"],
              r["freshness"], r["age_seconds"], r.get("max_age_seconds"), r["score"], r["source_class"])
             for r in results]
            + [(record.request_id, record.seq, "rejected", None, r["chunk_id"], r["source_id"], r["snapshot_id"],
                r["reason"], r["age_seconds"], r["max_age_seconds"], None, sources[r["source_id"]]["source_class"])
               for r in rejected]
        )
    except (KeyError, TypeError):
        return "the record's content lacks what its chunk rows are checked against (changed)"
    found = Counter(
        tuple(row) if served_max_age or row.kind != "served" else (*tuple(row)[:9], None, *tuple(row)[10:])
        for row in chunks
    )
    if found == expected:
        return None
    if found.total() < expected.total():
        return "a chunk row of the record is missing (deleted or moved)"
    if found.total() > expected.total():
        return "the record has a chunk row its hashed content does not list (added or moved)"
    return "a chunk row of the record does not match its hashed content (changed)"


def _head_problem(sessions: sessionmaker[Session], head: Row, last_seq: int, last_hash: str) -> dict[str, Any] | None:
    """The head must vouch for the last record: same seq, same hash."""
    if head.seq == last_seq and head.last_hash == last_hash:
        return None
    if last_seq == 0:  # no records at all, yet the head was moved off the genesis hash
        return _bad(0, 0, None, "the chain head was changed")
    # Every record up to here links, so the first one the head does not vouch for is the culprit: one
    # past the head (appended without moving it), or the last one (rewritten and rehashed).
    culprit_seq = head.seq + 1 if head.seq < last_seq else last_seq
    with read_scope(sessions) as session:
        request_id = session.scalar(select(Retrieval.request_id).where(Retrieval.seq == culprit_seq))
    problem = (f"inserted after the chain head (seq {head.seq})" if head.seq < last_seq
               else "the record's hash is not the chain head's (the record or the head was changed)")
    return _bad(culprit_seq - 1, culprit_seq, request_id, problem)


def _orphans(sessions: sessionmaker[Session], checked: int) -> dict[str, Any] | None:
    """A chunk row whose request id names no record (possible once foreign keys are switched off).

    Lookups by snapshot or source find records through the chunk rows' seq, so such a row would
    make a record appear to have used content it never saw.
    """
    with read_scope(sessions) as session:
        top = session.scalar(select(func.max(_CHUNKS.c.id))) or 0
    owner = exists().where(_RECORDS.c.request_id == _CHUNKS.c.request_id)
    for start in range(0, top, ORPHAN_WINDOW):
        with read_scope(sessions) as session:
            row = session.execute(
                select(_CHUNKS.c.seq, _CHUNKS.c.request_id)
                .where(_CHUNKS.c.id > start, _CHUNKS.c.id <= start + ORPHAN_WINDOW, ~owner).limit(1)
            ).first()
        if row is not None:
            return _bad(checked, row.seq, row.request_id,
                        "a chunk row names a record that does not exist (added, or its record was deleted)")
    return None


def _bad(checked: int, seq: int, request_id: str | None, problem: str) -> dict[str, Any]:
    return {"ok": False, "records_checked": checked,
            "first_bad": {"seq": seq, "request_id": request_id, "problem": problem}}
