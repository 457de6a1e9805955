"""Ingestion: publish the corpus from scratch, again unchanged, again with 1% of documents changed,
then publish one large source while retrievals run, to see how long a retrieval can stall.

Runs as its own process (`python -m bench.ingestion`), so that the parent can read its peak RSS:
the figure is that of a process doing nothing but publishing (and, in the last step, retrieving).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

from bench.corpus import SIZES, Corpus, SourceSpec
from bench.memory import status_field
from bench.stats import Series
from bench.workspace import DATABASE_URL_ENV, OPERATOR, Workspace
from freshness.auth.keys import Principal
from freshness.db import session_scope
from freshness.retrieval.schemas import RetrieveRequest
from freshness.retrieval.service import retrieve
from freshness.runtime import Runtime, freeze_heap
from freshness.sources.publish import publish
from freshness.sources.schemas import PublishRequest, SourceCreate
from freshness.sources.service import register_source

REPUBLISH_ROUNDS = 10  # 1%-changed re-publishes, for the store's growth


def register_all(runtime: Runtime, specs: list[SourceSpec]) -> None:
    with session_scope(runtime.sessions) as session:
        for spec in specs:
            body = SourceCreate(id=spec.id, title=f"Source {spec.id}", owner=spec.owner,
                                source_class=spec.source_class, tags=list(spec.tags))
            register_source(session, OPERATOR, body, runtime.policy.current, runtime.clock.now())


def publish_pass(runtime: Runtime, corpus: Corpus, changed: dict[int, frozenset[int]] | None = None) -> dict:
    """Publish every source once; only the publish calls are timed, not building their bodies."""
    now = runtime.clock.now()
    elapsed = 0.0
    chunks = embedded = reused = new_snapshots = 0
    for spec in corpus.sources:
        body = corpus.publish_request(spec, now, (changed or {}).get(spec.index, frozenset()))
        started = time.perf_counter()
        result = publish(runtime, OPERATOR, spec.id, body)
        elapsed += time.perf_counter() - started
        chunks += result.stats.chunks
        embedded += result.stats.chunks_embedded
        reused += result.stats.chunks_reused
        new_snapshots += int(result.changed)
    return {"seconds": elapsed, "chunks": chunks, "chunks_embedded": embedded, "chunks_reused": reused,
            "new_snapshots": new_snapshots, "chunks_per_s": chunks / elapsed if elapsed else 0.0}


def publish_under_load(runtime: Runtime, corpus: Corpus, principal: Principal, rate: float = 100.0) -> dict:
    """Publish the big source in a thread (as `serve` would) while retrieving at `rate` per second.

    Retrievals are paced rather than back to back: a tight loop would starve the publishing thread
    of the GIL, which is not what a service sees."""
    freeze_heap()  # as `serve` does before it takes requests: the publish body below is made after it
    runtime.store.warm_up(wait=True)  # as `serve` does once it is open
    spec, documents = corpus.big_source(corpus.size.big_source_chunks)
    register_all(runtime, [spec])
    body = PublishRequest(documents=documents, version="v1", captured_at=runtime.clock.now() - spec.age)
    queries = list(corpus.queries(200, salt=11))
    outcome: dict = {}

    def run() -> None:
        started = time.perf_counter()
        result = publish(runtime, OPERATOR, spec.id, body)
        outcome["seconds"] = time.perf_counter() - started
        outcome["chunks"] = result.stats.chunks

    series = Series("retrieve during publish")
    worker = threading.Thread(target=run, name="publish")
    started = time.perf_counter()
    worker.start()
    i = 0
    while worker.is_alive():
        pause = started + i / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        q = queries[i % len(queries)]
        request = RetrieveRequest(query=q.text, task_class=q.task_class, top_k=5)
        t0 = time.perf_counter()
        try:
            retrieve(runtime, principal, request, None)
        except Exception:  # noqa: BLE001 - counted, the run goes on
            series.errors += 1
        series.latencies.append(time.perf_counter() - t0)
        i += 1
    worker.join()
    series.wall = time.perf_counter() - started
    outcome["chunks_per_s"] = outcome.get("chunks", 0) / outcome["seconds"] if outcome.get("seconds") else 0.0
    outcome["write_batch"] = runtime.settings.write_batch
    return {"publish": outcome, "retrieval": series.summary()}


def store_bytes(path: Path) -> int:
    """Disk space the store's files take (allocated blocks: its segment files are sparse)."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(folder, name)).st_blocks * 512
            except OSError:
                pass
    return total


def run(size_name: str, root: Path, seed: int, database_url: str = "") -> dict:
    corpus = Corpus(SIZES[size_name], seed)
    workspace = Workspace(root, database_url)
    workspace.create()
    runtime = workspace.open()
    store_path = workspace.settings.store_path
    try:
        register_all(runtime, corpus.sources)
        first = publish_pass(runtime, corpus)
        first["peak_rss"] = status_field(os.getpid(), "VmHWM")
        first["store_bytes"] = store_bytes(store_path)
        unchanged = publish_pass(runtime, corpus)
        # 1% of the documents, spread over every source (as evenly as their number allows); each later round
        # changes another 1% and keeps the earlier changes, as a corpus that changes a little every day.
        changes = corpus.spread_changes(0.01)
        changed = publish_pass(runtime, corpus, changes)
        changed["documents_changed"] = sum(len(d) for d in changes.values())
        changed["sources_touched"] = len(changes)
        changed["store_bytes"] = store_bytes(store_path)
        loaded = publish_under_load(runtime, corpus, workspace.reader(runtime))
        points = runtime.store.count()
    finally:
        runtime.close()
    return {"first": first, "unchanged": unchanged, "changed": changed, "under_load": loaded,
            "store_points": points, "peak_rss": status_field(os.getpid(), "VmHWM")}


def more_rounds(size_name: str, root: Path, seed: int, database_url: str = "") -> dict:
    """Rounds 2 to 10 of the 1% change on the workspace `run` left (after the retrieval runs, so that these
    measure the store they were meant for): each changes another 1% and keeps the earlier changes, as a
    corpus that changes a little every day. Returns their times and the store's growth over them."""
    corpus = Corpus(SIZES[size_name], seed)
    workspace = Workspace(root, database_url)
    runtime = workspace.open()
    store_path = workspace.settings.store_path
    try:
        changes = corpus.spread_changes(0.01)
        before = store_bytes(store_path)
        seconds = []
        for round_ in range(1, REPUBLISH_ROUNDS):
            for source, docs in corpus.spread_changes(0.01, round_).items():
                changes[source] = changes.get(source, frozenset()) | docs
            seconds.append(publish_pass(runtime, corpus, changes)["seconds"])
        after = store_bytes(store_path)
    finally:
        runtime.close()
    return {"rounds_seconds": seconds, "store_bytes_before_rounds": before, "store_bytes_after_rounds": after,
            "peak_rss": status_field(os.getpid(), "VmHWM")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), required=True)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rounds", action="store_true", help="Only the later 1%-changed rounds, on an existing root.")
    args = parser.parse_args()
    work = more_rounds if args.rounds else run
    # PostgreSQL instead of an SQLite file in the root: the URL comes in the environment (it may hold a password).
    database_url = os.environ.get(DATABASE_URL_ENV, "")
    args.out.write_text(json.dumps(work(args.size, args.root, args.seed, database_url), indent=2))


if __name__ == "__main__":
    main()
