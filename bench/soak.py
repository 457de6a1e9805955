"""`python -m bench.soak`: retrieval load while sources change, a SIGKILL under load, a restart, then checks.

`freshness serve` runs on a free loopback port in a temporary data dir (SQLite and embedded Qdrant Edge;
`SOAK_DATABASE_URL` puts it on PostgreSQL). Sixteen readers retrieve for `--seconds` with mixed task classes,
each request with its own X-Request-ID, while writers publish new snapshots, roll back, retire sources and
register them again. Then serve is killed with SIGKILL while the load goes on, restarted on the same data and
port, and loaded again for `--after` seconds. The table says what the clients saw and what the audit log
holds; the exit status is 1 when an invariant fails (see `Findings.ok` and `invariants`).
"""

from __future__ import annotations

import secrets
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console

from bench.corpus import Corpus, Size
from bench.report import Section, machine, markdown, print_tables
from bench.server import Server
from bench.soak_check import Findings, check
from bench.soak_traffic import Log, Outage, Writers, read
from bench.stats import percentile
from freshness.auth.keys import create_key
from freshness.db import make_engine, make_session_factory, session_scope

console = Console(stderr=True)
# Pauses between writes of each writer thread: steady churn without starving the readers of two cores.
WRITERS = (("publish", 0.4), ("publish", 0.6), ("rollback", 0.5), ("churn", 2.5))
OWNERS = ("support", "catalog-team")


def soak_size(sources: int) -> Size:
    return Size("soak", sources, 8, 3, 60, 400, 0, 0, 0, dense_dim=16)


@dataclass
class Outcome:
    findings: Findings
    log: Log
    seconds: float
    after: float
    restart_seconds: float
    size: Size
    clients: int
    killed_midway: bool  # the SIGKILL landed while a publish was in flight

    def invariants(self) -> list[tuple[str, bool]]:
        f, log = self.findings, self.log
        return [
            ("no 5xx outside the kill window", not log.server_errors),
            ("no dropped connection outside the kill window", not log.dropped),
            ("every 200 answer has its audit record", f.records_found == f.answers and not f.missing),
            ("each record lists the chunks its answer served", not f.differ),
            ("no chunk of a snapshot that was not active", not f.inactive),
            ("no chunk of a retired source", not f.retired),
            ("no answer mixing two snapshots of a source", not f.mixed),
            ("no served snapshot failed, ingesting or unknown", not f.bad_state),
            ("no publish left ingesting after the restart", not f.ingesting),
            ("every write's outcome known at the end", f.unsettled == 0),
            ("audit chain verifies", bool(f.chain.get("ok"))),
        ]

    @property
    def ok(self) -> bool:
        return all(held for _, held in self.invariants())


def _keys(database_url: str) -> dict[str, str]:
    """A reader, an auditor and a publisher per owner, straight in the database (as `freshness keys create`)."""
    engine = make_engine(database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            now = datetime.now(UTC)
            keys = {role: create_key(session, role, f"soak {role}", now)[1] for role in ("reader", "auditor")}
            for owner in OWNERS:
                keys[owner] = create_key(session, "publisher", f"soak {owner}", now, owner=owner)[1]
    finally:
        engine.dispose()
    return keys


def _step(message: str) -> None:
    console.print(f"[bold]·[/bold] {message}", highlight=False)


def _await_publish(writers: Writers, patience: float = 5.0) -> bool:
    """Wait (a few seconds at most) until a publish is in flight, so that the kill cuts one."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if writers.publishing:
            time.sleep(0.02)  # into the publish, past its first transaction
            return True
        time.sleep(0.005)
    return False


def _load(url: str, keys: dict[str, str], writers: Writers, corpus: Corpus, log: Log, clients: int,
          run: str) -> tuple[threading.Event, list[threading.Thread]]:
    stop = threading.Event()
    queries = list(corpus.queries(corpus.size.queries, salt=2))
    threads = [threading.Thread(target=read, args=(url, keys["reader"], n, queries, log, stop, run), daemon=True)
               for n in range(clients)]
    threads += [threading.Thread(target=writers.loop, args=(action, pause, stop), daemon=True)
                for action, pause in WRITERS]
    for thread in threads:
        thread.start()
    return stop, threads


def run(seconds: float, after: float, clients: int, sources: int, seed: int, work: Path,
        database_url: str | None = None) -> Outcome:
    """The whole soak in `work` (which the caller removes); returns what was seen and checked."""
    size = soak_size(sources)
    corpus = Corpus(size, seed)
    data = work / "data"
    db_url = database_url or f"sqlite:///{(data / 'freshness.db').resolve()}"
    token = secrets.token_hex(3)
    outage = Outage()
    log = Log(outage)
    server = Server(data, work / "serve-1.log", database_url=database_url)
    stop, threads = threading.Event(), []
    try:
        keys = _keys(db_url)
        publishers = {owner: keys[owner] for owner in OWNERS}
        writers = Writers(server.url, publishers, corpus, log, token, seed)
        _step(f"serve on {server.url}; registering and publishing {sources} sources")
        writers.setup()
        _step(f"{clients} readers and {len(WRITERS)} writers for {seconds:g} s")
        stop, threads = _load(server.url, keys, writers, corpus, log, clients, token)
        started = time.monotonic()
        stop.wait(seconds)
        midway = _await_publish(writers)
        loaded = time.monotonic() - started
        _step("SIGKILL to serve under load" + (" during a publish" if midway else "") + ", then a restart")
        outage.began = time.monotonic()
        server.kill()
        server = Server(data, work / "serve-2.log", port=server.port, admin_key=server.admin_key,
                        database_url=database_url)
        outage.ended = time.monotonic()
        _step(f"serve answered /ready {outage.ended - outage.began:.1f} s after the kill; {after:g} s more load")
        stop.wait(after)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        unsettled = writers.settle_all()
        _step("checking answers against the audit log, the snapshot history and the timed writes")
        findings = check(server.url, keys["auditor"], server.admin_key, log.answers, log.changes,
                         list(writers.specs), unsettled, seed)
        return Outcome(findings, log, loaded, after, outage.ended - outage.began, size, clients, midway)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        if server.process.poll() is None:
            server.stop()


def _rows(outcome: Outcome) -> list[Section]:
    f, log, size = outcome.findings, outcome.log, outcome.size
    main_phase = [s for ended, s in log.latencies if outcome.log.outage.began and ended < outcome.log.outage.began]
    every = [s for _, s in log.latencies]
    writes = {what: sum(n for k, n in log.statuses.items() if k.startswith(what + " 2")) for what in
              ("register", "publish", "activate", "retire")}
    refused = sum(n for k, n in log.statuses.items() if " 4" in k and not k.startswith("retrieve"))
    figures = [
        ["corpus", f"{size.sources} sources × {size.docs_per_source} documents × {size.chunks_per_doc} chunks"],
        ["load", f"{outcome.clients} readers for {outcome.seconds:.0f} s, kill, restart, {outcome.after:g} s more"],
        ["retrievals sent / answered (any status)", f"{len(every) + len(log.dropped) + log.dropped_in_outage:,} / "
                                                    f"{len(every):,}"],
        ["throughput before the kill", f"{len(main_phase) / outcome.seconds:,.1f} req/s"],
        ["latency p50 / p99", f"{percentile(every, 50) * 1000:.1f} / {percentile(every, 99) * 1000:.1f} ms"],
        ["answer status ok / flagged / insufficient_context",
         " / ".join(f"{log.outcomes[s]:,}" for s in ("ok", "flagged", "insufficient_context"))],
        ["writes: publishes (new or unchanged) / rollbacks / retires / registrations",
         f"{writes['publish']} / {writes['activate']} / {writes['retire']} / {writes['register']}"],
        ["writes refused with 4xx (e.g. 409 publish in progress)", f"{refused}"],
        ["5xx outside the kill window", f"{len(log.server_errors)}"],
        ["dropped connections outside the kill window", f"{len(log.dropped)}"],
        ["kill window: restart to /ready", f"{outcome.restart_seconds:.1f} s"],
        ["kill window: connection errors / 5xx", f"{log.dropped_in_outage:,} / {log.server_errors_in_outage}"],
        ["kill landed during a publish / publishes now failed", f"{'yes' if outcome.killed_midway else 'no'} / "
                                                                f"{f.failed}"],
        ["200 answers / their audit records found", f"{f.answers:,} / {f.records_found:,}"],
        ["audit records in all (incl. requests cut by the kill)", f"{f.records_total:,}"],
        ["records listing other chunks than the answer", f"{len(f.differ)}"],
        ["answers with a non-active snapshot / a retired source / two snapshots of one source",
         f"{len(f.inactive)} / {len(f.retired)} / {len(f.mixed)}"],
        ["served snapshots now failed, ingesting or unknown", f"{len(f.bad_state)}"],
        ["audit chain (GET /v1/audit/verify)",
         f"{'ok' if f.chain.get('ok') else 'FAILED'}, {f.chain.get('records_checked', 0):,} records"],
    ]
    info = machine()
    head = Section("Machine", ["", ""], [[k, info[k]] for k in ("date", "cpu", "cores", "memory", "os", "python")])
    invariants = Section("Invariants", ["invariant", "held"],
                         [[name, "yes" if held else "NO"] for name, held in outcome.invariants()])
    return [head, Section("Soak", ["", ""], figures), invariants]


def _problems(outcome: Outcome) -> list[str]:
    f, log = outcome.findings, outcome.log
    out = []
    for name, items in (("5xx", log.server_errors), ("dropped", log.dropped), ("no record", f.missing),
                        ("record differs", f.differ), ("inactive", f.inactive), ("retired", f.retired),
                        ("mixed", f.mixed), ("state", f.bad_state), ("ingesting", f.ingesting)):
        out += [f"{name}: {item}" for item in items[:5]]
    return out


@click.command()
@click.option("--seconds", type=float, default=60, show_default=True, help="Load before the kill.")
@click.option("--after", type=float, default=None, help="Load after the restart [default: seconds / 4, 3 to 15].")
@click.option("--clients", type=int, default=16, show_default=True)
@click.option("--sources", type=int, default=12, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--database-url", envvar="SOAK_DATABASE_URL", default=None,
              help="Run serve on this database (e.g. PostgreSQL) instead of SQLite in the temporary data dir.")
@click.option("--markdown", "as_markdown", is_flag=True, help="Also print the tables as Markdown.")
@click.option("--keep", is_flag=True, help="Keep the temporary data dir and serve's logs.")
def main(seconds: float, after: float | None, clients: int, sources: int, seed: int, database_url: str | None,
         as_markdown: bool, keep: bool) -> None:
    """Soak freshness serve: load, writes, a SIGKILL and a restart; exits 1 when an invariant fails."""
    after = after if after is not None else min(15.0, max(3.0, seconds / 4))
    # SIGTERM (from CI, a timeout) cleans up as Ctrl-C does; SIGINT too when started with it ignored (`cmd &`).
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.default_int_handler)
    work = Path(tempfile.mkdtemp(prefix="freshness-soak-"))
    try:
        outcome = run(seconds, after, clients, sources, seed, work, database_url)
    except BaseException:
        for log in sorted(work.glob("serve-*.log")):
            console.print(f"[bold]{log.name}[/bold] (last lines)\n" + "\n".join(log.read_text().splitlines()[-30:]))
        raise
    finally:
        if keep:
            _step(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    sections = _rows(outcome)
    print_tables(sections, Console(width=140))
    if as_markdown:
        print(markdown(sections))
    for line in _problems(outcome):
        console.print(line, highlight=False)
    raise SystemExit(0 if outcome.ok else 1)


if __name__ == "__main__":
    main()
