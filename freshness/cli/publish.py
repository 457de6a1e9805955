"""`freshness publish` and `freshness verify`: new content for a source, or a confirmation that it is still current.

`publish` works in-process, which needs the embedded store; while `serve` holds it, the command
says so in one line and points to `--api-url`, which publishes through the running service.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
import msgspec

from freshness.cli.common import (
    OPERATOR,
    convert,
    emit_json,
    err,
    fail,
    fmt_time,
    handled,
    json_option,
    now,
    out,
    read_settings,
    sessions_for,
)
from freshness.errors import StoreLocked

if TYPE_CHECKING:
    from freshness.sources.schemas import PublishRequest, PublishResult


@click.command()
@click.argument("source_id")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--version", "version", default=None, help="Your own label: a date, a commit.")
@click.option("--captured-at", default=None, help="RFC 3339; default now.")
@click.option("--valid-until", default=None, help="RFC 3339 hard expiry.")
@click.option("--api-url", envvar="FRESHNESS_API_URL", default=None,
              help="Publish through a running service (e.g. http://127.0.0.1:8000) instead of in-process.")
@click.option("--key", envvar="FRESHNESS_KEY", default=None, help="API key for --api-url.")
@json_option
@handled
def publish(source_id: str, path: Path, version: str | None, captured_at: str | None, valid_until: str | None,
            api_url: str | None, key: str | None, as_json: bool) -> None:
    """Publish a file or a folder of .md, .txt and .html files as a new snapshot of SOURCE."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from freshness.refresh.files import read_documents
    from freshness.runtime import open_runtime
    from freshness.sources.publish import publish as run_publish
    from freshness.sources.publish import recover_unfinished
    from freshness.sources.schemas import PublishRequest

    settings = read_settings()
    documents = read_documents(path)
    given = {"documents": documents, "version": version, "captured_at": captured_at, "valid_until": valid_until}
    body = convert(PublishRequest, {k: v for k, v in given.items() if v is not None})
    if api_url:
        _report(source_id, _publish_over_http(api_url, key, source_id, body), as_json)
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
    _report(source_id, result, as_json)


def _publish_over_http(api_url: str, key: str | None, source_id: str, body: PublishRequest) -> PublishResult:
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


def _report(source_id: str, result: PublishResult, as_json: bool) -> None:
    if as_json:
        emit_json(result)
        return
    snap, stats = result.snapshot, result.stats
    if result.changed:
        out.print(f"published {snap.id} of {source_id} (version {snap.version or '-'}): {stats.documents} documents,"
                  f" {stats.chunks} chunks, {stats.chunks_embedded} embedded, {stats.chunks_reused} reused,"
                  f" {stats.duration_ms} ms", highlight=False)
    else:
        out.print(f"unchanged: {snap.id} stays active, verified_at raised to {fmt_time(snap.verified_at)}",
                  highlight=False)


@click.command()
@click.argument("source_id")
@json_option
@handled
def verify(source_id: str, as_json: bool) -> None:
    """Confirm that SOURCE's active content is still current."""
    from freshness.db import session_scope
    from freshness.sources.snapshots import verify as run_verify
    from freshness.sources.views import snapshot_out

    with session_scope(sessions_for(read_settings())) as session:
        snapshot = run_verify(session, OPERATOR, source_id, now())
        view = snapshot_out(snapshot)
    if as_json:
        emit_json(view)
        return
    out.print(f"verified {snapshot.id} of {source_id} at {fmt_time(snapshot.verified_at)}", highlight=False)
