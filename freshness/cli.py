"""The `freshness` command."""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from functools import wraps
from pathlib import Path

import click
import msgspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from freshness.auth.keys import Principal, Role
from freshness.errors import FreshnessError, StoreLocked
from freshness.settings import Settings, load_settings

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)
OPERATOR = Principal(key_id="cli", name="command line operator", role=Role.ADMIN, owner=None)


def fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    sys.exit(1)


def handled(fn):
    """Domain errors become one clear line on stderr and exit code 1."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except FreshnessError as exc:
            fail(exc.detail)
        except Exception as exc:  # the database is down, a file is missing...
            if isinstance(exc, (click.exceptions.Exit, click.ClickException, SystemExit)):
                raise
            fail(f"{type(exc).__name__}: {exc}")

    return wrapper


def _settings() -> Settings:
    return load_settings()


def _sessions(settings: Settings):
    from freshness.db import make_engine, make_session_factory

    return make_session_factory(make_engine(settings.resolved_database_url))


def _now() -> datetime:
    from freshness.clock import SystemClock

    return SystemClock().now()


@click.group()
def main() -> None:
    """freshness: versioned snapshots, freshness policies and an audit trail in front of a vector store."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("freshness").setLevel(logging.INFO)


# -- serve ----------------------------------------------------------------------------------------


@main.command()
@click.option("--host", default=None, help="Overrides FRESHNESS_HOST.")
@click.option("--port", type=int, default=None, help="Overrides FRESHNESS_PORT.")
@click.option("--no-scheduler", is_flag=True, help="Do not run scheduled jobs in this process.")
@click.option("--no-migrate", is_flag=True, help="Do not apply database migrations at start.")
@handled
def serve(host: str | None, port: int | None, no_scheduler: bool, no_migrate: bool) -> None:
    """Start the HTTP service (migrates the database first)."""
    import uvicorn

    from freshness.app import create_app
    from freshness.auth.keys import bootstrap_admin_key, ensure_admin_key
    from freshness.db import session_scope
    from freshness.migrate import upgrade
    from freshness.runtime import open_runtime
    from freshness.settings import with_overrides

    settings = _settings()
    if no_scheduler:
        settings = with_overrides(settings, scheduler=False)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.migrate_on_start and not no_migrate:
        upgrade(settings.resolved_database_url)
    # Open everything before listening: an invalid policy or a held store stops the start with its message.
    runtime = open_runtime(settings)
    with session_scope(runtime.sessions) as session:
        if settings.admin_key:
            ensure_admin_key(session, settings.admin_key, runtime.clock.now())
        key = bootstrap_admin_key(session, settings.data_dir, runtime.clock.now())
    if key:
        out.print(f"Created the first admin key (also in {settings.data_dir / 'admin.key'}, mode 0600). "
                  "It is shown once:")
        out.print(key, highlight=False)
    app = create_app(settings, runtime=runtime)
    try:
        uvicorn.run(app, host=host or settings.host, port=port or settings.port, log_level="info",
                    access_log=settings.access_log)
    finally:
        runtime.close()


# -- db -------------------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@handled
def db_upgrade() -> None:
    """Apply every Alembic migration."""
    from freshness.migrate import upgrade

    settings = _settings()
    upgrade(settings.resolved_database_url)
    out.print(f"database is up to date ({_safe_url(settings.resolved_database_url)})", highlight=False)


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# -- keys -----------------------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """API keys: create, list, revoke."""


@keys.command("create")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--owner", default=None, help="Owner name a publisher key is bound to.")
@click.option("--name", default=None, help="A label for the key.")
@handled
def keys_create(role: str, owner: str | None, name: str | None) -> None:
    """Create a key. The key itself is printed once, alone on the last line."""
    from freshness.auth.keys import create_key
    from freshness.db import session_scope

    with session_scope(_sessions(_settings())) as session:
        row, key = create_key(session, role, name or (f"{role} {owner}" if owner else role), _now(), owner=owner)
    out.print(f"created {row.role} key {row.id}" + (f" for owner {row.owner}" if row.owner else ""), highlight=False)
    out.print("store it now: it is not shown again", highlight=False)
    click.echo(key)


@keys.command("list")
@handled
def keys_list() -> None:
    """Every key with its role and state (never the key itself)."""
    from freshness.auth.keys import list_keys
    from freshness.db import session_scope

    with session_scope(_sessions(_settings())) as session:
        rows = list_keys(session)
    table = Table("id", "name", "role", "owner", "created", "revoked")
    for row in rows:
        table.add_row(row.id, row.name, row.role, row.owner or "", _fmt(row.created_at), _fmt(row.revoked_at))
    out.print(table)


@keys.command("revoke")
@click.argument("key_id")
@handled
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id; it stops working at once."""
    from freshness.auth.keys import revoke_key
    from freshness.db import session_scope

    with session_scope(_sessions(_settings())) as session:
        revoke_key(session, key_id, _now())
    out.print(f"revoked {key_id}", highlight=False)


def _fmt(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


# -- sources --------------------------------------------------------------------------------------


@main.group()
def sources() -> None:
    """Register and list sources."""


@sources.command("add")
@click.argument("source_id")
@click.option("--title", required=True)
@click.option("--owner", required=True)
@click.option("--class", "source_class", required=True, help="A source class of the policy.")
@click.option("--uri", default=None)
@click.option("--refresh-interval", default=None, help="e.g. 1h, 1d, PT30M")
@click.option("--tag", "tags", multiple=True)
@handled
def sources_add(source_id, title, owner, source_class, uri, refresh_interval, tags) -> None:
    """Register a source."""
    from freshness.db import session_scope
    from freshness.policy.parse import load_policy_file
    from freshness.refresh.reach import SourceReach
    from freshness.sources.schemas import SourceCreate
    from freshness.sources.service import register_source

    settings = _settings()
    policy = load_policy_file(settings.policy_file)
    body = _convert(
        SourceCreate,
        dict(id=source_id, title=title, owner=owner, source_class=source_class, uri=uri,
             refresh_interval=refresh_interval, tags=list(tags)),
    )
    with session_scope(_sessions(settings)) as session:
        register_source(session, OPERATOR, body, policy, _now(), SourceReach.of(settings))
    out.print(f"registered {source_id} ({source_class}, owner {owner})", highlight=False)


def _convert(kind, data: dict):
    from freshness.errors import InvalidInput

    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        raise InvalidInput(str(exc)) from exc


@sources.command("list")
@click.option("--owner", default=None)
@click.option("--class", "source_class", default=None)
@click.option("--include-retired", is_flag=True)
@handled
def sources_list(owner, source_class, include_retired) -> None:
    """Sources with their active snapshot and freshness."""
    from freshness.db import session_scope
    from freshness.policy.parse import load_policy_file
    from freshness.sources.service import active_snapshot, list_sources
    from freshness.sources.views import source_out

    settings = _settings()
    policy = load_policy_file(settings.policy_file)
    table = Table("id", "class", "owner", "active snapshot", "version", "status", "age")
    with session_scope(_sessions(settings)) as session:
        after = None
        while True:
            rows = list_sources(session, owner=owner, source_class=source_class, include_retired=include_retired,
                                after=after, limit=500)
            for source in rows[:500]:
                view = source_out(source, active_snapshot(session, source), policy, _now())
                snap = view.active_snapshot
                status = "retired" if source.retired_at else view.freshness.status
                age = view.freshness.age_seconds
                table.add_row(source.id, source.source_class, source.owner, snap.id if snap else "",
                              (snap.version or "") if snap else "", status, _age(age))
            if len(rows) <= 500:
                break
            after = rows[499].id
    out.print(table)


def _age(seconds: int | None) -> str:
    if seconds is None:
        return ""
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds}s"


# -- publish and verify ---------------------------------------------------------------------------


@main.command()
@click.argument("source_id")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--version", "version", default=None, help="Your own label: a date, a commit.")
@click.option("--captured-at", default=None, help="RFC 3339; default now.")
@click.option("--valid-until", default=None, help="RFC 3339 hard expiry.")
@click.option("--api-url", envvar="FRESHNESS_API_URL", default=None,
              help="Publish through a running service (e.g. http://127.0.0.1:8000) instead of in-process.")
@click.option("--key", envvar="FRESHNESS_KEY", default=None, help="API key for --api-url.")
@handled
def publish(source_id: str, path: Path, version, captured_at, valid_until, api_url, key) -> None:
    """Publish a file or a folder of .md, .txt and .html files as a new snapshot of SOURCE."""
    from freshness.refresh.files import read_documents
    from freshness.runtime import open_runtime
    from freshness.sources.publish import publish as run_publish
    from freshness.sources.publish import recover_unfinished
    from freshness.sources.schemas import PublishRequest

    settings = _settings()
    documents = read_documents(path)
    body = _convert(
        PublishRequest,
        {k: v for k, v in dict(documents=documents, version=version, captured_at=captured_at,
                                 valid_until=valid_until).items() if v is not None},
    )
    if api_url:
        result = _publish_over_http(api_url, key, source_id, body)
        _report_publish(source_id, result)
        return
    try:
        runtime = open_runtime(settings)
    except StoreLocked:
        fail("the embedded store is held by the running service; publish through it instead: "
             f"freshness publish {source_id} {path} --api-url http://{settings.host}:{settings.port} --key fk_...")
    try:
        recover_unfinished(runtime, all_ingesting=settings.uses_embedded_store)
        with Progress(TextColumn("indexing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err, transient=True) as bar:
            task = bar.add_task("index", total=None)
            result = run_publish(runtime, OPERATOR, source_id, body,
                                 progress=lambda done, total: bar.update(task, completed=done, total=total))
    finally:
        runtime.close()
    _report_publish(source_id, result)


def _publish_over_http(api_url: str, key: str | None, source_id: str, body):
    import httpx

    from freshness.sources.schemas import PublishResult

    if not key:
        fail("--api-url needs an API key: pass --key or set FRESHNESS_KEY")
    response = httpx.post(f"{api_url.rstrip('/')}/v1/sources/{source_id}/snapshots",
                          content=msgspec.json.encode(body),
                          headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                          timeout=600)
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        fail(f"{response.status_code}: {detail}")
    return msgspec.json.decode(response.content, type=PublishResult)


def _report_publish(source_id: str, result) -> None:
    snap, stats = result.snapshot, result.stats
    if result.changed:
        out.print(f"published {snap.id} of {source_id} (version {snap.version or '-'}): {stats.documents} documents,"
                  f" {stats.chunks} chunks, {stats.chunks_embedded} embedded, {stats.chunks_reused} reused,"
                  f" {stats.duration_ms} ms", highlight=False)
    else:
        out.print(f"unchanged: {snap.id} stays active, verified_at raised to {_fmt(snap.verified_at)}",
                  highlight=False)


@main.command()
@click.argument("source_id")
@handled
def verify(source_id: str) -> None:
    """Confirm that SOURCE's active content is still current."""
    from freshness.db import session_scope
    from freshness.sources.snapshots import verify as run_verify

    with session_scope(_sessions(_settings())) as session:
        snapshot = run_verify(session, OPERATOR, source_id, _now())
    out.print(f"verified {snapshot.id} of {source_id} at {_fmt(snapshot.verified_at)}", highlight=False)


# -- audit ----------------------------------------------------------------------------------------


@main.group()
def audit() -> None:
    """Read and check the audit log (works while `serve` runs)."""


@audit.command("show")
@click.argument("request_id")
@click.option("--json", "as_json", is_flag=True, help="The full record as JSON.")
@handled
def audit_show(request_id: str, as_json: bool) -> None:
    """One retrieval: what was asked, what was served and rejected, and where it came from."""
    import json

    from freshness.audit.service import get_record
    from freshness.db import read_scope

    with read_scope(_sessions(_settings())) as session:
        record = get_record(session, request_id)
    if as_json:
        click.echo(json.dumps(record, indent=2))
        return
    principal = record.get("principal") or {}
    out.print(f"request {record['request_id']}  served {record['served_at']}  status {record['status']}",
              highlight=False)
    out.print(f"task {record['task_class']} ({record['criticality']}), top_k {record['top_k']}, "
              f"policy {record['policy_version']}, key {principal.get('name')} ({principal.get('key_id')})",
              highlight=False)
    out.print(f"query: {record['query'] if record['query'] is not None else '(only its hash is kept) '}"
              f" {record['query_sha256']}", highlight=False)
    table = Table("rank", "source", "snapshot", "version", "state now", "freshness", "age", "document", "text")
    for r in record["results"]:
        snap = r.get("snapshot") or {}
        table.add_row(str(r["rank"]), r["source_id"], r["snapshot_id"], snap.get("version") or "",
                      snap.get("state_now") or "", r["freshness"], _age(r["age_seconds"]), r["document_id"],
                      r["text"][:80])
    out.print(table)
    if record["rejected"]:
        rejected = Table("rejected chunk", "source", "snapshot", "reason", "age", "max age")
        for r in record["rejected"]:
            rejected.add_row(r["chunk_id"], r["source_id"], r["snapshot_id"], r["reason"], _age(r["age_seconds"]),
                             _age(r["max_age_seconds"]))
        out.print(rejected)
    out.print(f"record_hash {record['record_hash']}  prev_hash {record['prev_hash']}", highlight=False)


@audit.command("export")
@click.option("--snapshot", "snapshot_id", default=None, help="Only requests that touched this snapshot.")
@click.option("--source", "source_id", default=None)
@click.option("--task-class", default=None)
@click.option("--status", default=None)
@click.option("--since", default=None, help="RFC 3339")
@click.option("--until", default=None, help="RFC 3339")
@handled
def audit_export(snapshot_id, source_id, task_class, status, since, until) -> None:
    """Every matching record as JSON lines on standard output, newest first."""
    import json

    from freshness.audit.service import list_records, record_view
    from freshness.db import read_scope

    def when(raw):
        return datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else None

    before = None
    with read_scope(_sessions(_settings())) as session:
        while True:
            rows = list_records(session, snapshot_id=snapshot_id, source_id=source_id, task_class=task_class,
                                status=status, since=when(since), until=when(until), before_seq=before, limit=1000)
            for row in rows[:1000]:
                click.echo(json.dumps(record_view(session, row)))
            if len(rows) <= 1000:
                break
            before = rows[999].seq


@audit.command("verify")
@click.option("--checkpoint", "checkpoint_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="A checkpoint taken earlier (`audit checkpoint`): also fail when the log no longer holds it.")
@handled
def audit_verify(checkpoint_file: Path | None) -> None:
    """Check the hash chain; exit 1 at the first record that was changed, deleted or inserted."""
    from freshness.audit.checkpoint import verify_with_checkpoint
    from freshness.audit.schemas import Checkpoint
    from freshness.audit.signing import load_signer
    from freshness.audit.verify import verify_chain

    settings = _settings()
    if checkpoint_file is None:
        report = verify_chain(_sessions(settings))
    else:
        try:
            checkpoint = msgspec.json.decode(checkpoint_file.read_bytes(), type=Checkpoint)
        except (OSError, msgspec.DecodeError) as exc:
            fail(f"{checkpoint_file} is not a checkpoint: {exc}")
        report = verify_with_checkpoint(_sessions(settings), load_signer(settings), checkpoint)
    held = report.get("checkpoint")
    if report["ok"]:
        out.print(f"ok: {report['records_checked']} records, chain intact"
                  + (f"; the checkpoint at seq {held['seq']} holds" if held else ""), highlight=False)
        return
    bad = report["first_bad"]
    if bad is not None:
        err.print(f"chain broken at seq {bad['seq']} (request {bad['request_id']}): {bad['problem']}; "
                  f"{report['records_checked']} records before it are intact", highlight=False, soft_wrap=True)
    if held is not None and not held["ok"]:
        err.print(f"checkpoint at seq {held['seq']} fails: {held['reason']}", highlight=False, soft_wrap=True)
    sys.exit(1)


@audit.command("checkpoint")
@click.option("--json", "as_json", is_flag=True, help="On one line.")
@handled
def audit_checkpoint(as_json: bool) -> None:
    """Sign the chain head; keep the output elsewhere and check it later with `audit verify --checkpoint`."""
    from freshness.audit.checkpoint import take_checkpoint
    from freshness.audit.signing import load_signer

    settings = _settings()
    checkpoint = take_checkpoint(_sessions(settings), load_signer(settings), _now())
    encoded = msgspec.json.encode(checkpoint)
    click.echo((encoded if as_json else msgspec.json.format(encoded, indent=2)).decode())


# -- freshness report, scheduled jobs, store upkeep ----------------------------------------------


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document, for machines.")
@click.option("--class", "source_class", default=None, help="Only sources of this class.")
@click.option("--owner", default=None, help="Only sources of this owner.")
@handled
def status(as_json: bool, source_class: str | None, owner: str | None) -> None:
    """Freshness of every live source. Exit 1 when a source a critical task class may use is stale or expired."""
    from freshness.db import session_scope
    from freshness.policy.parse import load_policy_file
    from freshness.sources.report import count_by_status, freshness_report

    settings = _settings()
    policy = load_policy_file(settings.policy_file)
    now = _now()
    with session_scope(_sessions(settings)) as session:
        rows = freshness_report(session, policy, now, source_class=source_class, owner=owner)
    blocked = [row.source_id for row in rows if row.blocks_critical]
    if as_json:
        report = {"generated_at": now, "policy_version": policy.version, "counts": count_by_status(rows),
                  "critical_blocked": blocked, "items": rows}
        click.echo(msgspec.json.encode(report).decode())
    else:
        table = Table("source", "class", "status", "age", "max age", "strictest", "stale for", "snapshot",
                      "last refresh")
        for row in rows:
            refresh = row.last_refresh
            last = ""
            if refresh and refresh.outcome:
                last = refresh.outcome + (f" ({refresh.consecutive_failures}x: {refresh.error})"
                                          if refresh.outcome == "failed" else "")
            table.add_row(row.source_id, row.source_class, row.status, _age(row.age_seconds), _age(row.max_age_seconds),
                          _age(row.strictest_max_age_seconds), ", ".join(row.stale_for),
                          row.active_snapshot_id or "", last)
        out.print(table)
        counts = count_by_status(rows)
        out.print(", ".join(f"{n} {name}" for name, n in counts.items() if n) or "no sources", highlight=False)
        if blocked:
            err.print(f"stale or expired for a critical task class: {', '.join(blocked)}", highlight=False)
    if blocked:
        sys.exit(1)


@main.command()
@click.option("--job", "job_name", default=None, help="Only runs of this job (refresh, sweep, purge, reconcile).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True)
@handled
def jobs(job_name: str | None, limit: int, as_json: bool) -> None:
    """Recent runs of the scheduled jobs, newest first."""
    from freshness.jobs.runner import list_runs
    from freshness.jobs.scheduler import JOBS

    if job_name is not None and job_name not in JOBS:
        fail(f"unknown job {job_name!r}; jobs: {', '.join(JOBS)}")
    runs = list_runs(_sessions(_settings()), job=job_name, limit=limit)
    if as_json:
        click.echo(msgspec.json.encode([
            {"id": r.id, "job": r.job, "holder": r.holder, "started_at": r.started_at, "finished_at": r.finished_at,
             "outcome": r.outcome, "counts": r.counts, "error": r.error} for r in runs
        ]).decode())
        return
    table = Table("id", "job", "started", "took", "outcome", "counts", "error")
    for r in runs:
        took = f"{(r.finished_at - r.started_at).total_seconds():.1f}s" if r.finished_at else ""
        counts = ", ".join(f"{k}={v}" for k, v in (r.counts or {}).items() if v)
        table.add_row(str(r.id), r.job, _fmt(r.started_at), took, r.outcome, counts, (r.error or "")[:120])
    out.print(table)


@main.command()
@click.option("--no-migrate", is_flag=True, help="Do not apply database migrations at start.")
@handled
def scheduler(no_migrate: bool) -> None:
    """Run the scheduled jobs without serving HTTP (next to `serve --no-scheduler` replicas)."""
    import signal

    from freshness.jobs.scheduler import JobScheduler
    from freshness.migrate import upgrade
    from freshness.runtime import open_runtime

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.migrate_on_start and not no_migrate:
        upgrade(settings.resolved_database_url)
    runtime = open_runtime(settings)
    jobs_ = JobScheduler(runtime, blocking=True)

    def stop(signum, frame) -> None:
        jobs_.scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    out.print(f"scheduler {jobs_.holder} running: refresh, sweep, purge, reconcile (Ctrl-C stops)", highlight=False)
    try:
        jobs_.start()
    except KeyboardInterrupt:
        pass
    finally:
        runtime.close()


@main.group()
def store() -> None:
    """The vector store."""


@store.command("optimize")
@handled
def store_optimize() -> None:
    """Build the dense (HNSW) index of the embedded store. Run it while `serve` is stopped."""
    import time

    from freshness.runtime import open_runtime

    settings = _settings()
    if not settings.uses_embedded_store:
        out.print("a Qdrant server optimises its collections itself; nothing to do", highlight=False)
        return
    runtime = open_runtime(settings)
    try:
        before = runtime.store.unindexed_count()
        started = time.perf_counter()
        runtime.store.optimize()
        took = time.perf_counter() - started
        after = runtime.store.unindexed_count()
    finally:
        runtime.close()
    out.print(f"optimised in {took:.1f}s: {before} points were not indexed, {after} remain", highlight=False)


if __name__ == "__main__":
    main()
