"""Audit at scale: N hash-chained records bulk-inserted with the project's own chain functions,
then lookup by request ID, reverse lookup by snapshot, and full chain verification."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import update

from bench.stats import Series
from freshness.audit.chain import GENESIS, record_hash
from freshness.audit.service import get_record, list_records
from freshness.audit.verify import verify_chain
from freshness.db import make_engine, make_session_factory, session_scope
from freshness.migrate import upgrade
from freshness.models import AuditChainHead, Retrieval, RetrievalChunk

BATCH = 5_000
SNAPSHOTS = 2_000  # snapshots the records point at; a few are hot, most are not
POLICY_VERSION = "sha256:" + "ab" * 32


def _content(rng: random.Random, seq: int, served_at: datetime, request_id: str) -> tuple[dict, list[dict]]:
    """One record shaped like the retrieve path's, and its chunk rows."""
    results, rejected, rows = [], [], []
    snapshots = {}
    for rank in range(1, 4):
        snap = _snapshot(rng)
        source = f"source-{snap % 400:03d}"
        snapshot_id = f"snap_{snap:06d}"
        chunk_id = f"{rng.getrandbits(128):032x}"
        results.append({"rank": rank, "chunk_id": chunk_id, "text": f"chunk text {seq}-{rank} " * 10,
                        "score": round(rng.random() * 20, 6), "source_id": source, "source_class": "policy",
                        "snapshot_id": snapshot_id, "snapshot_version": "v1", "document_id": f"doc-{rank}",
                        "uri": None, "captured_at": "2026-01-01T00:00:00Z", "verified_at": "2026-01-01T00:00:00Z",
                        "age_seconds": 3600, "freshness": "fresh", "content_hash": "sha256:" + "cd" * 32})
        snapshots[snapshot_id] = {"source_id": source, "version": "v1", "captured_at": "2026-01-01T00:00:00Z",
                                  "verified_at": "2026-01-01T00:00:00Z", "valid_until": None,
                                  "content_hash": "sha256:" + "ef" * 32}
        rows.append(dict(request_id=request_id, seq=seq, kind="served", rank=rank, chunk_id=chunk_id,
                         source_id=source, snapshot_id=snapshot_id, freshness="fresh", age_seconds=3600,
                         max_age_seconds=604800, score=results[-1]["score"], source_class="policy"))
    snap = _snapshot(rng)
    source, snapshot_id, chunk_id = f"source-{snap % 400:03d}", f"snap_{snap:06d}", f"{rng.getrandbits(128):032x}"
    rejected.append({"chunk_id": chunk_id, "source_id": source, "snapshot_id": snapshot_id, "reason": "stale",
                     "age_seconds": 900000, "max_age_seconds": 604800})
    snapshots[snapshot_id] = {"source_id": source, "version": "v0", "captured_at": "2025-12-01T00:00:00Z",
                              "verified_at": "2025-12-01T00:00:00Z", "valid_until": None,
                              "content_hash": "sha256:" + "01" * 32}
    rows.append(dict(request_id=request_id, seq=seq, kind="rejected", rank=None, chunk_id=chunk_id, source_id=source,
                     snapshot_id=snapshot_id, freshness="stale", age_seconds=900000, max_age_seconds=604800,
                     score=None, source_class="policy"))
    content = {
        "request_id": request_id, "served_at": served_at.isoformat().replace("+00:00", "Z"), "status": "flagged",
        "task_class": "refund_decision", "criticality": "critical", "policy_version": POLICY_VERSION,
        "principal": {"key_id": "key_bench", "name": "bench reader", "role": "reader"},
        "query": f"query number {seq}", "query_sha256": "sha256:" + f"{seq:064x}", "filters": {}, "top_k": 5,
        "vector_given": False, "latency_ms": 3, "results": results, "rejected": rejected,
        "sources": {r["source_id"]: {"title": r["source_id"], "owner": "support", "uri": None,
                                     "source_class": "policy"} for r in results + rejected},
        "snapshots": snapshots,
    }
    return content, rows


def _snapshot(rng: random.Random) -> int:
    # Skewed use: low-numbered snapshots are served far more often.
    return min(SNAPSHOTS - 1, int(rng.paretovariate(1.2)) - 1)


def fill(url: str, records: int, seed: int = 7) -> float:
    """Insert `records` valid chained records; returns the seconds it took."""
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    rng = random.Random(seed)
    prev = GENESIS
    start_time = datetime(2026, 1, 1, tzinfo=UTC)
    started = time.perf_counter()
    seq = 0
    try:
        while seq < records:
            batch, chunk_rows = [], []
            for _ in range(min(BATCH, records - seq)):
                seq += 1
                request_id = f"req_bench_{seq:09d}"
                served_at = start_time + timedelta(milliseconds=seq * 10)
                content, rows = _content(rng, seq, served_at, request_id)
                digest = record_hash(prev, content)
                batch.append(dict(request_id=request_id, seq=seq, served_at=served_at, task_class="refund_decision",
                                  status="flagged", policy_version=POLICY_VERSION, key_id="key_bench",
                                  content=content, prev_hash=prev, record_hash=digest))
                chunk_rows.extend(rows)
                prev = digest
            with session_scope(sessions) as session:
                session.execute(Retrieval.__table__.insert(), batch)
                session.execute(RetrievalChunk.__table__.insert(), chunk_rows)
                session.execute(update(AuditChainHead).where(AuditChainHead.id == 1).values(seq=seq, last_hash=prev))
    finally:
        engine.dispose()
    return time.perf_counter() - started


def measure(url: str, records: int, lookups: int = 1_000, seed: int = 11) -> dict:
    """Lookup by request ID, reverse lookup of the newest 100 requests per snapshot, full verification."""
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    rng = random.Random(seed)
    try:
        by_id = Series("audit lookup by request ID")
        for _ in range(lookups):
            request_id = f"req_bench_{rng.randint(1, records):09d}"
            t0 = time.perf_counter()
            with session_scope(sessions) as session:
                get_record(session, request_id)
            by_id.latencies.append(time.perf_counter() - t0)
        reverse = Series("reverse lookup: 100 requests of one snapshot")
        hot, cold = Series("hot snapshots"), Series("cold snapshots")
        for i in range(min(200, lookups)):
            # Half hot snapshots (most records), half cold ones.
            snap = rng.randint(0, 9) if i % 2 else rng.randint(10, SNAPSHOTS - 1)
            t0 = time.perf_counter()
            with session_scope(sessions) as session:
                found = list_records(session, snapshot_id=f"snap_{snap:06d}", source_id=None, task_class=None,
                                     status=None, since=None, until=None, before_seq=None, limit=100)
            elapsed = time.perf_counter() - t0
            reverse.latencies.append(elapsed)
            (hot if i % 2 else cold).latencies.append(elapsed)
            reverse.notes.setdefault("rows", 0)
            reverse.notes["rows"] += len(found)
        t0 = time.perf_counter()
        outcome = verify_chain(sessions)
        seconds = time.perf_counter() - t0
    finally:
        engine.dispose()
    if not outcome["ok"] or outcome["records_checked"] != records:
        raise RuntimeError(f"the bulk-inserted chain does not verify: {outcome}")
    return {"lookup": by_id.summary(), "reverse": reverse.summary(), "reverse_hot": hot.summary(),
            "reverse_cold": cold.summary(),
            "verify": {"seconds": seconds, "records": outcome["records_checked"],
                       "per_s": outcome["records_checked"] / seconds}}


def run(root: Path, records: int) -> dict:
    path = root / "audit.db"
    path.unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    fill_seconds = fill(url, records)
    result = measure(url, records)
    result["records"] = records
    result["fill_seconds"] = fill_seconds
    result["db_bytes"] = path.stat().st_size
    return result
