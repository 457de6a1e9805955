"""`freshness publish` and `freshness verify`: new content for a source, or a confirmation that it is still current.

`publish` goes through the running service when FRESHNESS_API_URL (or `--api-url`) and FRESHNESS_KEY are
set: in one body, or, when the body would pass the service's limit (FRESHNESS_MAX_BODY), as a staged
upload in batches under it, with one progress bar across the batches; an upload that fails is abandoned.
Without an API URL it publishes in-process, which needs the embedded store; while `serve` holds it, the
command says so in one line and points to the API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

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
    from freshness.settings import Settings
    from freshness.sources.schemas import PublishRequest, PublishResult, SnapshotOut


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
    from freshness.refresh.files import read_documents
    from freshness.sources.schemas import PublishRequest

    settings = read_settings()
    documents = read_documents(path)
    given = {"documents": documents, "version": version, "captured_at": captured_at, "valid_until": valid_until}
    body = convert(PublishRequest, {k: v for k, v in given.items() if v is not None})
    if api_url:
        if not key:
            fail("--api-url needs an API key: pass --key or set FRESHNESS_KEY")
        _report(source_id, _publish_through_api(api_url, key, source_id, body, settings), as_json)
        return
    _report(source_id, _publish_in_process(source_id, path, body, settings), as_json)


@contextmanager
def _progress(action: str, then: str | None = None) -> Iterator[Callable[[int, int], None]]:
    """One bar on stderr for the whole publish, moved by (done, total) of its batches or chunks; once
    everything is done it reads `then` (the service indexes a staged upload only when it is committed)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as bar:
        task = bar.add_task(action, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total,
                                             description=then if then and done >= total else action)


def _publish_in_process(source_id: str, path: Path, body: PublishRequest, settings: Settings) -> PublishResult:
    from freshness.runtime import open_runtime
    from freshness.sources.publish import publish as run_publish
    from freshness.sources.publish import recover_unfinished

    try:
        runtime = open_runtime(settings)
    except StoreLocked:
        fail("the embedded store is held by the running service; publish through it instead: "
             f"freshness publish {source_id} {path} --api-url http://{settings.host}:{settings.port} --key fk_... "
             "(or set FRESHNESS_API_URL and FRESHNESS_KEY)")
    try:
        recover_unfinished(runtime, all_ingesting=settings.uses_embedded_store)
        with _progress("indexing") as progress:
            return run_publish(runtime, OPERATOR, source_id, body, progress=progress)
    finally:
        runtime.close()


def _publish_through_api(api_url: str, key: str, source_id: str, body: PublishRequest, settings: Settings
                         ) -> PublishResult:
    """One body when it fits the limit, else a staged upload whose bar counts the documents sent."""
    from freshness.client import FreshnessAPIError, FreshnessClient, FreshnessClientError

    # The service may take minutes to index a large snapshot before it answers.
    with FreshnessClient(api_url, key, timeout=600) as client:
        client.max_body = settings.max_body  # the operator's setting, until the service says otherwise (413)
        try:
            with _progress("uploading", then="publishing") as progress:
                return client.publish(source_id, body.documents, version=body.version,
                                      captured_at=body.captured_at, valid_until=body.valid_until,
                                      progress=progress)
        except FreshnessAPIError as exc:
            fail(f"{exc.status}: {exc.detail}")
        except FreshnessClientError as exc:
            fail(str(exc))


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
@click.option("--api-url", envvar="FRESHNESS_API_URL", default=None,
              help="Verify through a running service (e.g. http://127.0.0.1:8000) instead of in the database.")
@click.option("--key", envvar="FRESHNESS_KEY", default=None, help="API key for --api-url.")
@json_option
@handled
def verify(source_id: str, api_url: str | None, key: str | None, as_json: bool) -> None:
    """Confirm that SOURCE's active content is still current."""
    view: SnapshotOut
    if api_url:
        if not key:
            fail("--api-url needs an API key: pass --key or set FRESHNESS_KEY")
        view = _verify_through_api(api_url, key, source_id)
    else:
        from freshness.db import session_scope
        from freshness.sources.snapshots import verify as run_verify
        from freshness.sources.views import snapshot_out

        with session_scope(sessions_for(read_settings())) as session:
            view = snapshot_out(run_verify(session, OPERATOR, source_id, now()))
    if as_json:
        emit_json(view)
        return
    out.print(f"verified {view.id} of {source_id} at {fmt_time(view.verified_at)}", highlight=False)


def _verify_through_api(api_url: str, key: str, source_id: str) -> SnapshotOut:
    from freshness.client import FreshnessAPIError, FreshnessClient, FreshnessClientError

    with FreshnessClient(api_url, key) as client:
        try:
            return client.verify(source_id)
        except FreshnessAPIError as exc:
            fail(f"{exc.status}: {exc.detail}")
        except FreshnessClientError as exc:
            fail(str(exc))
