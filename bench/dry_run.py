"""Policy dry run at scale: N audit records with their chunk rows bulk-inserted into a scratch database,
then judged under a candidate policy (freshness.trust.dry_run) and timed.

The records are shaped as the retrieve path writes them where the dry run reads: task class, status,
and per chunk its kind, source class, age at serve time, recorded freshness and max age, judged under
config/policy.toml. Their content is left empty and their hash chain is not built: only the dry run
reads this database. `python -m bench.dry_run --records 1000000`.
"""

from __future__ import annotations

import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from bench.report import machine
from freshness.db import make_engine, make_session_factory, read_scope, session_scope
from freshness.migrate import upgrade
from freshness.models import Retrieval, RetrievalChunk
from freshness.policy.parse import parse_policy
from freshness.policy.verdict import is_served, judge_for_task
from freshness.retrieval.rules import status_of
from freshness.trust.dry_run import dry_run

ROOT = Path(__file__).resolve().parent.parent
BATCH = 20_000
RECORDS = 1_000_000  # what `make bench-large` judges
CHUNKS_PER_RECORD = 3
START = datetime(2026, 1, 1, tzinfo=UTC)
TASKS = ["refund_decision", "order_status", "general_question"]
# The candidate: the policy class's ages halved, so the verdicts of many chunks change.
TIGHTER = ('max_age = "7d"\nwarn_age = "5d"', 'max_age = "3d"\nwarn_age = "2d"')


def _record(rng: random.Random, policy: Any, seq: int) -> tuple[dict, list[dict]]:
    task = policy.task_classes[rng.choice(TASKS)]
    classes = list(task.source_classes or policy.source_classes)
    now = START + timedelta(seconds=seq)
    request_id = f"req_dry_{seq:09d}"
    verdicts, rows = [], []
    for position in range(CHUNKS_PER_RECORD):
        klass = policy.source_classes[rng.choice(classes)]
        age = rng.randint(0, 10 * 86400)
        verdict = judge_for_task(task, klass, now - timedelta(seconds=age), None, now)
        served = is_served(task, verdict)
        if served:
            verdicts.append(verdict)
        rows.append({"request_id": request_id, "seq": seq, "kind": "served" if served else "rejected",
                     "rank": len(verdicts) if served else None, "chunk_id": f"c{seq:09d}{position}",
                     "source_id": f"src-{klass.name}", "source_class": klass.name, "snapshot_id": f"snap-{klass.name}",
                     "freshness": verdict.freshness.value, "age_seconds": verdict.age_seconds,
                     "max_age_seconds": verdict.max_age_seconds, "score": 1.0 if served else None})
    record = {"request_id": request_id, "seq": seq, "served_at": now, "task_class": task.name,
              "status": status_of(task, verdicts).value, "policy_version": policy.version, "key_id": "key_bench",
              "content": {}, "prev_hash": "-", "record_hash": "-"}
    return record, rows


def fill(url: str, records: int, seed: int) -> float:
    upgrade(url)
    policy = parse_policy((ROOT / "config" / "policy.toml").read_text())
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    rng = random.Random(seed)
    started = time.perf_counter()
    try:
        for first in range(1, records + 1, BATCH):
            made = [_record(rng, policy, seq) for seq in range(first, min(first + BATCH, records + 1))]
            with session_scope(sessions) as session:
                session.execute(Retrieval.__table__.insert(), [record for record, _ in made])
                session.execute(RetrievalChunk.__table__.insert(), [row for _, rows in made for row in rows])
    finally:
        engine.dispose()
    return time.perf_counter() - started


def measure(url: str, records: int) -> dict:
    text = (ROOT / "config" / "policy.toml").read_text()
    current, candidate = parse_policy(text), text.replace(*TIGHTER)
    engine = make_engine(url)
    try:
        with read_scope(make_session_factory(engine)) as session:
            started, cpu = time.perf_counter(), time.process_time()
            out = dry_run(session, candidate, current, START, START + timedelta(seconds=records + 1))
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        engine.dispose()
    if out.records != records:
        raise RuntimeError(f"the dry run judged {out.records} records of {records}")
    changed = sum(c.requests - c.unchanged for c in out.task_classes)
    # CPU seconds beside the wall clock: on a shared machine the wall clock also counts other processes' turns.
    return {"records": out.records, "chunks": out.chunks, "seconds": seconds, "cpu_seconds": cpu,
            "per_s": out.records / seconds, "changed": changed}


def run(root: Path, records: int, seed: int = 7) -> dict:
    path = root / "dry_run.db"
    path.unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    result = {"fill_seconds": fill(url, records, seed)}
    result.update(measure(url, records))
    return result


def table(result: dict) -> Table:
    info = machine()
    out = Table(title=f"Policy dry run (SQLite, {info['cores']} cores, {info['cpu']}, Python {info['python']})")
    for column in ("records", "chunk rows", "requests changed", "seconds", "cpu seconds", "records/s",
                   "fill seconds"):
        out.add_column(column, justify="right")
    out.add_row(f"{result['records']:,}", f"{result['chunks']:,}", f"{result['changed']:,}",
                f"{result['seconds']:.2f}", f"{result['cpu_seconds']:.2f}", f"{result['per_s']:,.0f}",
                f"{result['fill_seconds']:.1f}")
    return out


@click.command()
@click.option("--records", type=int, default=RECORDS, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
def main(records: int, seed: int) -> None:
    """Build N records in a scratch database and time a dry run of a tighter policy over them."""
    with tempfile.TemporaryDirectory(prefix="freshness-dry-run-") as work:
        result = run(Path(work), records, seed)
    Console(width=160).print(table(result))


if __name__ == "__main__":
    main()
