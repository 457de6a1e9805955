"""Someone with write access to the database reorders the audit log, slips a record into it, or
rewrites or removes its end. The auditor's check, over HTTP and on the command line, names the first
record where the chain breaks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import Connection, select, text

from freshness.audit.chain import record_hash
from freshness.db import make_engine
from freshness.models import Retrieval, RetrievalChunk


def _rows(conn: Connection, request_id: str) -> tuple[dict, list[dict]]:
    record = conn.execute(select(Retrieval.__table__).where(Retrieval.request_id == request_id)).mappings().one()
    chunks = conn.execute(select(RetrievalChunk.__table__).where(RetrievalChunk.request_id == request_id))
    return dict(record), [dict(c) for c in chunks.mappings()]


def _insert(conn: Connection, record: dict, chunks: list[dict]) -> None:
    conn.execute(Retrieval.__table__.insert(), [record])
    if chunks:
        conn.execute(RetrievalChunk.__table__.insert(), [{k: v for k, v in c.items() if k != "id"} for c in chunks])


def _make_room_at(conn: Connection, seq: int) -> None:
    """Move every record from `seq` on one place up (in two steps, so that unique seqs never collide)."""
    for table in ("retrievals", "retrieval_chunks"):
        conn.execute(text(f"UPDATE {table} SET seq = seq + 1000 WHERE seq >= :s"), {"s": seq})
        conn.execute(text(f"UPDATE {table} SET seq = seq - 999 WHERE seq >= 1000"))


def _forge(conn: Connection, model: str, request_id: str, seq: int, after: str) -> None:
    """A record copied from `model`, renamed, and hashed correctly onto the record `after`."""
    record, chunks = _rows(conn, model)
    prev = _rows(conn, after)[0]["record_hash"]
    content = {**record["content"], "request_id": request_id}
    record.update(request_id=request_id, seq=seq, content=content, prev_hash=prev,
                  record_hash=record_hash(prev, content))
    _insert(conn, record, [{**c, "request_id": request_id, "seq": seq} for c in chunks])


def swap_r1_and_r2(conn: Connection) -> None:
    for table in ("retrievals", "retrieval_chunks"):
        conn.execute(text(f"UPDATE {table} SET seq = -1 WHERE request_id = 'r1'"))
        conn.execute(text(f"UPDATE {table} SET seq = 2 WHERE request_id = 'r2'"))
        conn.execute(text(f"UPDATE {table} SET seq = 3 WHERE request_id = 'r1'"))


def copy_of_r1_after_r1(conn: Connection) -> None:
    record, chunks = _rows(conn, "r1")
    _make_room_at(conn, 3)
    record.update(request_id="r1-copy", seq=3)
    _insert(conn, record, [{**c, "request_id": "r1-copy", "seq": 3} for c in chunks])


def forged_record_after_r1(conn: Connection) -> None:
    _make_room_at(conn, 3)
    _forge(conn, "r1", "forged", 3, after="r1")


def forged_record_after_the_last(conn: Connection) -> None:
    _forge(conn, "r3", "forged", 5, after="r3")


def last_record_rewritten_and_rehashed(conn: Connection) -> None:
    record, _ = _rows(conn, "r3")
    content = {**record["content"], "query": "something else"}
    conn.execute(Retrieval.__table__.update().where(Retrieval.request_id == "r3").values(
        content=content, record_hash=record_hash(record["prev_hash"], content)))


def last_record_deleted(conn: Connection) -> None:
    conn.execute(text("DELETE FROM retrieval_chunks WHERE request_id = 'r3'"))
    conn.execute(text("DELETE FROM retrievals WHERE request_id = 'r3'"))


@dataclass(frozen=True)
class Tamper:
    name: str
    change: Callable[[Connection], None]
    seq: int  # where the check must report the break
    request_id: str | None
    checked: int  # records before it that are intact
    words: str  # what the problem must say


CASES = [
    Tamper("two records swapped", swap_r1_and_r2, 2, "r2", 1, "out of order"),
    # A copy keeps its original prev_hash, which is not the hash of the record now before it.
    Tamper("a copied record inserted in the middle", copy_of_r1_after_r1, 3, "r1-copy", 2, "out of order"),
    # A forgery hashed onto its predecessor passes itself; the record after it no longer links.
    Tamper("a rehashed record inserted in the middle", forged_record_after_r1, 4, "r2", 3, "out of order"),
    # Appended after the chain head without moving it: the forged record itself is named.
    Tamper("a rehashed record appended after the head", forged_record_after_the_last, 5, "forged", 4, "inserted"),
    # The head row is the only witness for the end of the chain.
    Tamper("the last record rewritten and rehashed", last_record_rewritten_and_rehashed, 4, "r3", 3, "changed"),
    Tamper("the last record deleted", last_record_deleted, 4, None, 3, "missing"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_record_out_of_place_is_named_by_verify(audited, settings, cli, case):
    assert audited.get("/v1/audit/verify").json() == {"ok": True, "records_checked": 4, "first_bad": None}
    assert cli("audit", "verify").exit_code == 0
    engine = make_engine(settings.resolved_database_url)
    try:
        with engine.begin() as conn:
            case.change(conn)
    finally:
        engine.dispose()

    report = audited.get("/v1/audit/verify").json()

    assert report["ok"] is False
    bad = report["first_bad"]
    assert (bad["seq"], bad["request_id"]) == (case.seq, case.request_id), bad
    assert report["records_checked"] == case.checked
    assert case.words in bad["problem"]
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert f"seq {case.seq} (request {case.request_id})" in result.output
    assert "chain intact" not in result.output
