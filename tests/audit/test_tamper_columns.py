"""Someone with write access to the database edits one value of one audit record, in any column of
`retrievals` or `retrieval_chunks`, or deletes or adds a chunk row. Lookups filter on those columns
(`?since=`, `?source_id=`, `?snapshot_id=`), so an edit there hides a record or pins it on content it
never saw. The auditor's check names the record, whichever column it was."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, text

from freshness.models import Retrieval
from tests.conftest import publish, register

# r1 is seq 2; its served chunk of rank 1 is the row edited below.
ROW = "request_id = 'r1' AND kind = 'served' AND rank = 1"
COPY = ("request_id, seq, kind, rank, chunk_id, source_id, snapshot_id, freshness, age_seconds, "
        "max_age_seconds, score")


def served_at_moved(conn: Connection) -> None:
    conn.execute(Retrieval.__table__.update().where(Retrieval.request_id == "r1")
                 .values(served_at=datetime(2020, 1, 1, tzinfo=UTC)))


def sql(statement: str):
    def change(conn: Connection) -> None:
        conn.execute(text(statement))

    change.__doc__ = statement
    return change


@dataclass(frozen=True)
class Edit:
    name: str
    change: object
    request_id: str = "r1"  # the record verify must name
    seq: int = 2
    checked: int = 1  # the records before it that hold
    words: str = "changed"


EDITS = [
    # retrievals, every column
    Edit("served_at", served_at_moved, words="served_at column"),
    Edit("task_class", sql("UPDATE retrievals SET task_class = 'refund_decision' WHERE request_id = 'r1'"),
         words="task_class column"),
    Edit("status", sql("UPDATE retrievals SET status = 'insufficient_context' WHERE request_id = 'r1'"),
         words="status column"),
    Edit("policy_version", sql("UPDATE retrievals SET policy_version = 'sha256:00' WHERE request_id = 'r1'"),
         words="policy_version column"),
    Edit("key_id", sql("UPDATE retrievals SET key_id = 'key_someone_else' WHERE request_id = 'r1'"),
         words="key_id column"),
    Edit("request_id", sql("UPDATE retrievals SET request_id = 'r1-renamed' WHERE request_id = 'r1'"),
         request_id="r1-renamed", words="request_id column"),
    # The walk meets r2 where r1 belonged.
    Edit("seq", sql("UPDATE retrievals SET seq = 40 WHERE request_id = 'r1'"), request_id="r2", seq=3,
         words="seq 2 is missing"),
    Edit("content", sql("UPDATE retrievals SET content = (SELECT content FROM retrievals WHERE request_id = 'r0') "
                        "WHERE request_id = 'r1'"), words="content does not match its hash"),
    Edit("prev_hash", sql("UPDATE retrievals SET prev_hash = record_hash WHERE request_id = 'r1'"),
         words="prev_hash"),
    Edit("record_hash", sql("UPDATE retrievals SET record_hash = prev_hash WHERE request_id = 'r1'"),
         words="does not match its hash"),
    # retrieval_chunks, every column but the row number
    Edit("chunk request_id", sql(f"UPDATE retrieval_chunks SET request_id = 'r2' WHERE {ROW}"), words="missing"),
    Edit("chunk seq", sql(f"UPDATE retrieval_chunks SET seq = 3 WHERE {ROW}")),
    Edit("chunk kind", sql(f"UPDATE retrieval_chunks SET kind = 'rejected' WHERE {ROW}")),
    Edit("chunk rank", sql(f"UPDATE retrieval_chunks SET rank = 9 WHERE {ROW}")),
    Edit("chunk chunk_id", sql(f"UPDATE retrieval_chunks SET chunk_id = 'another-chunk' WHERE {ROW}")),
    Edit("chunk source_id", sql(f"UPDATE retrieval_chunks SET source_id = 'shipping-faq' WHERE {ROW}")),
    Edit("chunk snapshot_id", sql(f"UPDATE retrieval_chunks SET snapshot_id = 'snap_other' WHERE {ROW}")),
    Edit("chunk freshness", sql(f"UPDATE retrieval_chunks SET freshness = 'stale' WHERE {ROW}")),
    Edit("chunk age_seconds", sql(f"UPDATE retrieval_chunks SET age_seconds = age_seconds + 1 WHERE {ROW}")),
    Edit("chunk max_age_seconds", sql(f"UPDATE retrieval_chunks SET max_age_seconds = 60 WHERE {ROW}")),
    Edit("chunk score", sql(f"UPDATE retrieval_chunks SET score = score + 1 WHERE {ROW}")),
    # The class a chunk was judged under: the policy dry run counts by it.
    Edit("chunk source_class", sql(f"UPDATE retrieval_chunks SET source_class = 'faq' WHERE {ROW}")),
    Edit("chunk row deleted", sql(f"DELETE FROM retrieval_chunks WHERE {ROW}"), words="missing"),
    Edit("chunk row added", sql(f"INSERT INTO retrieval_chunks ({COPY}) SELECT "
                                + COPY.replace("snapshot_id", "'snap_other'") + f" FROM retrieval_chunks WHERE {ROW}"),
         words="does not list"),
    # Foreign keys off: a row that names no record, yet its seq ties it to r1 in snapshot lookups.
    Edit("chunk row of no record", sql(f"INSERT INTO retrieval_chunks ({COPY}) SELECT "
                                       + COPY.replace("request_id", "'ghost'", 1)
                                       + f" FROM retrieval_chunks WHERE {ROW}"),
         request_id="ghost", checked=4, words="does not exist"),
]


@pytest.mark.parametrize("edit", EDITS, ids=[e.name for e in EDITS])
def test_an_edit_of_any_column_is_named_by_verify(audited, tamper, cli, edit):
    assert audited.get("/v1/audit/verify").json() == {"ok": True, "records_checked": 4, "first_bad": None}

    tamper(edit.change)

    report = audited.get("/v1/audit/verify")
    assert report.status_code == 200, report.text
    report = report.json()
    assert report["ok"] is False
    bad = report["first_bad"]
    assert (bad["seq"], bad["request_id"]) == (edit.seq, edit.request_id), bad
    assert report["records_checked"] == edit.checked
    assert edit.words in bad["problem"], bad["problem"]
    assert cli("audit", "verify").exit_code == 1


def test_a_record_hidden_from_a_lookup_by_its_columns_is_caught(audited, tamper):
    """The record vanishes from `?source_id=` and `?since=`: the content says otherwise, and verify says so."""
    served_at = audited.get("/v1/audit/retrievals/r1").json()["served_at"]

    tamper(sql(f"UPDATE retrieval_chunks SET source_id = 'elsewhere' WHERE {ROW}"))
    tamper(served_at_moved)

    by_source = audited.get("/v1/audit/retrievals", params={"source_id": "refund-policy"}).json()["items"]
    since = audited.get("/v1/audit/retrievals", params={"since": served_at}).json()["items"]
    assert "r1" not in {i["request_id"] for i in by_source} | {i["request_id"] for i in since}
    report = audited.get("/v1/audit/verify").json()
    assert report["ok"] is False and report["first_bad"]["request_id"] == "r1"


def test_a_rejected_chunks_class_is_held_to_the_record_too(admin, keys, clock, tamper):
    """A stale chunk refused for a refund decision: its row verifies, and a changed class in it is named."""
    register(admin, "old-refunds", "policy")
    publish(admin, "old-refunds", [{"id": "refunds.md", "text": "Refunds are accepted within 90 days."}],
            captured_at="2020-01-01T00:00:00Z")
    reader, auditor = admin.as_key(keys.reader), admin.as_key(keys.auditor)
    answer = reader.post("/v1/retrieve", json={"query": "refunds", "task_class": "refund_decision",
                                               "request_id": "stale-one"}).json()
    assert answer["rejected"], answer
    assert auditor.get("/v1/audit/verify").json()["ok"] is True

    tamper(sql("UPDATE retrieval_chunks SET source_class = 'faq' WHERE request_id = 'stale-one' "
               "AND kind = 'rejected'"))

    report = auditor.get("/v1/audit/verify").json()
    assert report["ok"] is False and report["first_bad"]["request_id"] == "stale-one"
    assert "does not match its hashed content" in report["first_bad"]["problem"]
