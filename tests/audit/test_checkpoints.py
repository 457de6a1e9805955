"""An auditor takes a signed checkpoint and keeps it elsewhere. Later, someone who can write the
database rewrites the log and rehashes it forward, cuts its tail and moves the head back, or wipes it
and resets the head: every link still holds, so the chain check alone passes. The checkpoint does not."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key
from sqlalchemy import Connection, delete, select, update

from freshness.audit.chain import GENESIS, record_hash
from freshness.models import AuditChainHead, Retrieval, RetrievalChunk

RECORDS, CHUNKS, HEAD = Retrieval.__table__, RetrievalChunk.__table__, AuditChainHead.__table__


def _move_head(conn: Connection, seq: int, last_hash: str) -> None:
    conn.execute(update(HEAD).where(HEAD.c.id == 1).values(seq=seq, last_hash=last_hash))


def rewritten_and_rehashed(conn: Connection) -> None:
    """r1 now answers another question; every later hash and the head are recomputed to match."""
    prev = GENESIS
    for row in conn.execute(select(RECORDS).order_by(RECORDS.c.seq)).mappings().all():
        content = row["content"]
        if row["request_id"] == "r1":
            content = {**content, "query": "a question nobody asked"}
        digest = record_hash(prev, content)
        conn.execute(update(RECORDS).where(RECORDS.c.request_id == row["request_id"])
                     .values(content=content, prev_hash=prev, record_hash=digest))
        prev = digest
    _move_head(conn, 4, prev)


def tail_cut_and_head_moved_back(conn: Connection) -> None:
    conn.execute(delete(CHUNKS).where(CHUNKS.c.seq > 2))
    conn.execute(delete(RECORDS).where(RECORDS.c.seq > 2))
    _move_head(conn, 2, conn.scalar(select(RECORDS.c.record_hash).where(RECORDS.c.seq == 2)))


def wiped_and_head_reset(conn: Connection) -> None:
    conn.execute(delete(CHUNKS))
    conn.execute(delete(RECORDS))
    _move_head(conn, 0, GENESIS)


ATTACKS: dict[str, tuple[Callable[[Connection], None], str, int]] = {
    # attack: (change, what the checkpoint check says, records the chain check still finds intact)
    "rewritten and rehashed": (rewritten_and_rehashed, "has another hash", 4),
    "tail cut, head moved back": (tail_cut_and_head_moved_back, "is gone", 2),
    "wiped, head reset": (wiped_and_head_reset, "is gone", 0),
}


@pytest.fixture
def checkpoint(audited) -> dict:
    response = audited.get("/v1/audit/checkpoint")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_kept_checkpoint_catches_what_the_chain_alone_cannot(audited, checkpoint, tamper, cli, tmp_path, attack):
    change, words, intact = ATTACKS[attack]
    assert checkpoint["seq"] == 4
    assert checkpoint["record_hash"] == audited.get("/v1/audit/retrievals/r3").json()["record_hash"]
    kept = tmp_path / "kept-elsewhere.json"
    kept.write_text(json.dumps(checkpoint))
    assert audited.get("/v1/audit/verify", params=checkpoint).json()["ok"] is True
    assert cli("audit", "verify", "--checkpoint", str(kept)).exit_code == 0

    tamper(change)

    # Every link holds: this is why checkpoints exist.
    assert audited.get("/v1/audit/verify").json() == {"ok": True, "records_checked": intact, "first_bad": None}
    assert cli("audit", "verify").exit_code == 0
    report = audited.get("/v1/audit/verify", params=checkpoint).json()
    assert report["ok"] is False
    assert report["checkpoint"]["ok"] is False and words in report["checkpoint"]["reason"]
    assert report["first_bad"]["seq"] == 4
    result = cli("audit", "verify", "--checkpoint", str(kept))
    assert result.exit_code == 1
    assert f"checkpoint at seq 4 fails: the record at seq 4 {words}" in result.output


def test_the_cli_takes_a_checkpoint_with_the_services_key(audited, checkpoint, cli, tmp_path):
    result = cli("audit", "checkpoint", "--json")
    assert result.exit_code == 0, result.output
    taken = json.loads(result.output)
    assert {k: taken[k] for k in ("seq", "record_hash", "key_id")} == \
        {k: checkpoint[k] for k in ("seq", "record_hash", "key_id")}
    pretty = json.loads(cli("audit", "checkpoint").output)
    assert set(pretty) == {"seq", "record_hash", "signed_at", "key_id", "signature"} and pretty["seq"] == 4
    kept = tmp_path / "checkpoint.json"
    kept.write_text(result.output)
    held = cli("audit", "verify", "--checkpoint", str(kept))
    assert held.exit_code == 0 and "the checkpoint at seq 4 holds" in held.output
    assert audited.get("/v1/audit/verify", params=taken).json()["checkpoint"]["ok"] is True


def _forged_elsewhere(checkpoint: dict) -> dict:
    """Signed correctly, by a key that is not the service's, under the service's key id."""
    message = _message(checkpoint)
    return {**checkpoint, "signature": _b64(Ed25519PrivateKey.generate().sign(message))}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _message(checkpoint: dict) -> bytes:
    """What the signature covers, as the README tells an auditor who checks it with other tools."""
    signed = {k: checkpoint[k] for k in ("seq", "record_hash", "signed_at", "key_id")}
    return b"freshness audit checkpoint v1\n" + json.dumps(signed, sort_keys=True, separators=(",", ":")).encode()


FORGERIES: dict[str, Callable[[dict], dict]] = {
    "seq moved back": lambda c: {**c, "seq": 3},
    "another record hash": lambda c: {**c, "record_hash": "sha256:" + "ab" * 32},
    "signed_at changed": lambda c: {**c, "signed_at": "2020-01-01T00:00:00Z"},
    "signature bit flipped": lambda c: {**c, "signature": _b64(bytes([base64.urlsafe_b64decode(
        c["signature"] + "==")[0] ^ 1]) + base64.urlsafe_b64decode(c["signature"] + "==")[1:])},
    "signature not base64": lambda c: {**c, "signature": "not*a*signature"},
    "signed by another key": _forged_elsewhere,
    "another key id": lambda c: {**c, "key_id": "sha256:0000000000000000"},
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_forged_or_altered_checkpoint_fails(audited, checkpoint, cli, tmp_path, forgery):
    forged = FORGERIES[forgery](checkpoint)

    report = audited.get("/v1/audit/verify", params=forged)

    assert report.status_code == 200, report.text
    report = report.json()
    assert report["ok"] is False
    assert report["checkpoint"]["ok"] is False
    assert "signature" in report["checkpoint"]["reason"] or "not signed here" in report["checkpoint"]["reason"]
    kept = tmp_path / "forged.json"
    kept.write_text(json.dumps(forged))
    assert cli("audit", "verify", "--checkpoint", str(kept)).exit_code == 1


def test_the_public_key_verifies_a_checkpoint_without_this_service(audited, checkpoint, admin, keys):
    published = admin.as_key(keys.reader).get("/v1/audit/public-key")
    assert published.status_code == 200, published.text
    published = published.json()
    public = load_pem_public_key(published["public_key"].encode())
    assert isinstance(public, Ed25519PublicKey) and published["algorithm"] == "Ed25519"
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert published["key_id"] == checkpoint["key_id"] == "sha256:" + hashlib.sha256(raw).hexdigest()[:16]

    public.verify(base64.urlsafe_b64decode(checkpoint["signature"] + "=="), _message(checkpoint))


def test_who_may_take_a_checkpoint_and_read_the_key(audited, admin, keys):
    assert admin.get("/v1/audit/checkpoint").status_code == 200
    assert admin.as_key(keys.reader).get("/v1/audit/checkpoint").status_code == 403
    assert admin.as_key(keys.support).get("/v1/audit/checkpoint").status_code == 403
    assert admin.as_key(None).get("/v1/audit/public-key").status_code == 401
    assert admin.as_key(keys.support).get("/v1/audit/public-key").status_code == 200


def test_half_a_checkpoint_is_refused(audited, checkpoint):
    partial = {k: v for k, v in checkpoint.items() if k != "signature"}
    response = audited.get("/v1/audit/verify", params=partial)
    assert response.status_code == 422
    assert "signature" in response.json()["detail"]
    assert audited.get("/v1/audit/verify", params={**checkpoint, "seq": "-1"}).status_code == 422


def test_a_checkpoint_of_an_empty_log_holds(keys, admin):
    auditor = admin.as_key(keys.auditor)
    empty = auditor.get("/v1/audit/checkpoint").json()
    assert (empty["seq"], empty["record_hash"]) == (0, GENESIS)
    assert auditor.get("/v1/audit/verify", params=empty).json()["ok"] is True
