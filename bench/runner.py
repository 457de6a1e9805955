"""`python -m bench --size tiny|small|large`: run every benchmark on one corpus and print the tables."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
from rich.console import Console
from sqlalchemy import func, select

from bench import audit, dry_run, peer, retrieval
from bench.corpus import SIZES, Corpus
from bench.floor import FloorServer
from bench.memory import cpu_seconds, status_field, wait_peak_rss
from bench.report import build, database_name, machine, markdown, print_tables, targets
from bench.server import Server
from bench.workspace import DATABASE_URL_ENV, ROOT, DatabaseNotEmpty, Workspace
from freshness.db import make_engine
from freshness.models import Retrieval
from freshness.retrieval.rules import SCAN_FACTOR

console = Console(stderr=True)
CONCURRENCY = 16


def _step(message: str) -> None:
    console.print(f"[bold]·[/bold] {message}", highlight=False)


def run_ingestion(size: str, root: Path, seed: int, rounds: bool = False, database_url: str = "") -> tuple[dict, int]:
    out = root / ("rounds.json" if rounds else "ingestion.json")
    command = [sys.executable, "-m", "bench.ingestion", "--size", size, "--root", str(root), "--seed", str(seed),
               "--out", str(out)] + (["--rounds"] if rounds else [])
    # The URL may hold a password: it goes in the child's environment, never on a command line that `ps` shows.
    env = {k: v for k, v in os.environ.items() if k != DATABASE_URL_ENV}
    if database_url:
        env[DATABASE_URL_ENV] = database_url
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    code, _ = wait_peak_rss(process)
    if code != 0:
        raise click.ClickException(f"the ingestion benchmark failed with exit code {code}")
    result = json.loads(out.read_text())
    # The child's own high-water mark: wait4's figure would include pages shared with this process at fork.
    return result, result["peak_rss"]


def run_peer(root: Path, seed: int, tiny: bool) -> dict | None:
    """bench.peer in a process of its own: freshness and LangChain's index() re-publishing the same corpus."""
    if not peer.available():
        _step("peer skipped: LangChain's indexing API is not installed (pip install -e '.[dev,bench]')")
        return None
    out = root / "peer.json"
    command = [sys.executable, "-m", "bench.peer", "--root", str(root / "peer"), "--seed", str(seed),
               "--out", str(out)] + (["--tiny"] if tiny else [])
    if subprocess.run(command, cwd=ROOT).returncode != 0:
        raise click.ClickException("the peer benchmark failed")
    return json.loads(out.read_text())


def run_in_process(workspace: Workspace, corpus: Corpus) -> dict:
    queries = list(corpus.queries(corpus.size.queries))
    runtime = workspace.open()
    try:
        runtime.store.warm_up(wait=True)  # as `serve` does once it is open, done before anything is timed
        principal = workspace.reader(runtime)
        out = {"filters": retrieval.search_filters(runtime),
               "floor": retrieval.floor(runtime, queries).summary(),
               "service": retrieval.service(runtime, principal, queries).summary()}
        started = time.perf_counter()
        runtime.store.optimize()
        out["optimize_seconds"] = time.perf_counter() - started
        out["hybrid_floor"] = retrieval.floor(runtime, queries, hybrid=True).summary()
        out["hybrid_service"] = retrieval.service(runtime, principal, queries, hybrid=True).summary()
    finally:
        runtime.close()
    return out


def run_floor(workspace: Workspace, corpus: Corpus, root: Path, filters: dict[str, dict]) -> dict:
    """The floor service (bench.floor) on the same store and query set as the HTTP runs of `serve`."""
    queries = list(corpus.queries(corpus.size.queries, salt=1))
    server = FloorServer(workspace.settings.store_path, filters, root / "floor", retrieval.TOP_K * SCAN_FACTOR)
    out: dict = {}
    try:
        for name, clients in (("floor_http_1", 1), ("floor_http_n", CONCURRENCY)):
            before = server.records()
            label = f"floor HTTP, {clients} client" + ("s" if clients > 1 else "")
            if clients == 1:
                series = retrieval.http_one_client(server.url, None, queries, path="/retrieve", name=label)
            else:
                series = retrieval.http_concurrent(server.url, None, queries, clients,
                                                   corpus.size.http_concurrent_requests, path="/retrieve",
                                                   name=label)
            series.notes["audit_records"] = server.records() - before
            out[name] = series.summary()
    finally:
        server.stop()
    return out


def run_http(workspace: Workspace, corpus: Corpus, root: Path) -> tuple[dict, int]:
    queries = list(corpus.queries(corpus.size.queries, salt=1))
    key = workspace.reader_key_file.read_text().strip()
    engine = make_engine(workspace.settings.resolved_database_url)

    def records() -> int:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(Retrieval)) or 0

    server = Server(workspace.data_dir, root / "serve.log", database_url=workspace.database_url or None)
    out: dict = {}
    try:
        # The HTTP stack alone (Litestar, uvicorn, loopback), measured with the same clients.
        out["health_1"] = retrieval.http_one_client(server.url, None, queries, path="/health", method="GET",
                                                    name="GET /health, 1 client").summary()
        out["health_n"] = retrieval.http_concurrent(server.url, None, queries, CONCURRENCY,
                                                    corpus.size.http_concurrent_requests, path="/health",
                                                    method="GET", name=f"GET /health, {CONCURRENCY} clients"
                                                    ).summary()
        for name, clients in (("http_1", 1), ("http_n", CONCURRENCY)):
            before, cpu_before = records(), cpu_seconds(server.pid)
            if clients == 1:
                series = retrieval.http_one_client(server.url, key, queries)
            else:
                series = retrieval.http_concurrent(server.url, key, queries, clients,
                                                   corpus.size.http_concurrent_requests)
            cpu = cpu_seconds(server.pid) - cpu_before
            series.notes["audit_records"] = records() - before
            out[name] = series.summary()
            out["server_cpu_ms_" + ("1" if clients == 1 else "n")] = cpu / max(1, series.count) * 1000
        out["serve_rss"] = server.rss()
        # File-backed pages are the store's memory-mapped segments: page cache the kernel can reclaim.
        out["serve_rss_anon"] = status_field(server.pid, "RssAnon")
        out["serve_rss_file"] = status_field(server.pid, "RssFile")
    finally:
        peak = server.stop()
        engine.dispose()
    return out, peak


def run(size_name: str, seed: int, work: Path, with_audit: bool = True, database_url: str = "") -> dict:
    """Every benchmark on one corpus. `database_url`: the service's database is this (empty) PostgreSQL one
    instead of an SQLite file; the floor, the peer and the audit and dry-run steps keep their own files."""
    size = SIZES[size_name]
    corpus = Corpus(size, seed)
    root = work / size_name
    workspace = Workspace(root, database_url)
    try:
        workspace.require_empty_database()  # before anything is removed or written
    except DatabaseNotEmpty as exc:
        raise click.ClickException(str(exc)) from exc
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    results: dict = {"size": {**dataclasses.asdict(size), "chunks": size.chunks}, "seed": seed,
                     "machine": {**machine(), "database": database_name(workspace.settings.resolved_database_url)}}

    _step(f"ingestion: {size.chunks:,} chunks in {size.sources} sources (a process of its own)")
    results["ingestion"], ingest_peak = run_ingestion(size_name, root, seed, database_url=database_url)
    _step("re-publishing beside LangChain's indexing API (bench.peer)")
    results["peer"] = run_peer(root, seed, tiny=size_name == "tiny")
    _step("retrieval in-process: (a) bare engine, (b) retrieve use case, then optimize() and hybrid")
    results["retrieval"] = run_in_process(workspace, corpus)
    _step(f"the floor over HTTP (bench.floor): 1 then {CONCURRENCY} clients")
    results["retrieval"].update(run_floor(workspace, corpus, root, results["retrieval"].pop("filters")))
    _step(f"retrieval over HTTP: freshness serve, 1 then {CONCURRENCY} clients")
    http, serve_peak = run_http(workspace, corpus, root)
    results["retrieval"].update(http)
    _step("nine more rounds of 1% changed, for the store's growth (bench.ingestion --rounds)")
    rounds, _ = run_ingestion(size_name, root, seed, rounds=True, database_url=database_url)
    changed = results["ingestion"]["changed"]
    changed["rounds_seconds"] = [changed["seconds"], *rounds["rounds_seconds"]]
    # Growth from the ten rounds alone: the large source published meanwhile is not theirs.
    changed["store_bytes_after_rounds"] = (changed["store_bytes"] + rounds["store_bytes_after_rounds"]
                                           - rounds["store_bytes_before_rounds"])
    results["memory"] = {"serve_peak": serve_peak, "serve_rss": http["serve_rss"], "ingest_peak": ingest_peak,
                         "serve_rss_anon": http["serve_rss_anon"], "serve_rss_file": http["serve_rss_file"]}
    if with_audit:
        _step(f"audit: {size.audit_records:,} chained records, lookups, verification")
        results["audit"] = audit.run(root, size.audit_records)
    if size_name == "large" and with_audit:
        _step(f"policy dry run: {dry_run.RECORDS:,} records judged under a candidate policy (bench.dry_run)")
        results["dry_run"] = dry_run.run(root, dry_run.RECORDS)
    (root / "results.json").write_text(json.dumps(results, indent=2))
    return results


def update_docs(path: Path, size: str, text: str) -> None:
    """Replace this size's block in the document (between its markers), or append one."""
    begin, end = f"<!-- results:{size} -->", f"<!-- /results:{size} -->"
    block = f"{begin}\n{text}\n{end}"
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.DOTALL)
    if pattern.search(current):
        current = pattern.sub(lambda _: block, current)
    else:
        current = current.rstrip("\n") + f"\n\n## Results: {size}\n\n{block}\n"
    path.write_text(current)


@click.command()
@click.option("--size", type=click.Choice(sorted(SIZES)), default="small", show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--work", type=click.Path(path_type=Path), default=None,
              help="Where data dirs go (default: a temporary directory, removed afterwards).")
@click.option("--keep", is_flag=True, help="Keep the data dirs.")
@click.option("--docs", type=click.Path(path_type=Path), default=None,
              help="Write the tables into this Markdown file (e.g. docs/benchmarks.md).")
@click.option("--no-audit", is_flag=True,
              help="Skip the audit-at-scale and dry-run steps (bulk records; no target of retrieval or publishing).")
@click.option("--database-url", envvar=DATABASE_URL_ENV, default="", metavar="URL",
              help="Run the service on this PostgreSQL database, which must hold no table, instead of an SQLite file"
                   f" (the tables go under 'Results: SIZE on PostgreSQL'); also ${DATABASE_URL_ENV}, which keeps a"
                   " password off the command line.")
def main(size: str, seed: int, work: Path | None, keep: bool, docs: Path | None, no_audit: bool,
         database_url: str) -> None:
    """Benchmark freshness against the bare Qdrant Edge engine on a seeded corpus."""
    if database_url and not database_url.startswith("postgresql"):
        raise click.BadParameter("give a postgresql+psycopg:// URL (without it the service uses an SQLite file)",
                                 param_hint="--database-url")
    base = work or Path(tempfile.mkdtemp(prefix="freshness-bench-"))
    try:
        results = run(size, seed, base, with_audit=not no_audit, database_url=database_url)
    finally:
        if not keep and work is None:
            shutil.rmtree(base, ignore_errors=True)
    sections = build(results) + [targets(results)]
    print_tables(sections, Console(width=160))
    if "dry_run" in results:
        Console(width=160).print(dry_run.table(results["dry_run"]))
    if docs is not None:
        label = f"{size} on PostgreSQL" if database_url else size
        update_docs(docs, label, f"Run of {results['machine']['date']}.\n\n" + markdown(sections))
        _step(f"tables written to {docs}")
