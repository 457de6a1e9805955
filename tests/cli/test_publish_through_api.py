"""`freshness publish` through a running service (FRESHNESS_API_URL and FRESHNESS_KEY set).

A folder that fits in one body is one publish. A folder larger than the service's FRESHNESS_MAX_BODY is
sent as a staged upload, in batches under the limit, with one progress bar across them, and ends as
one snapshot; when the service refuses the commit, the upload is abandoned and nothing is published.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime

import httpx
import pytest
import rich.progress
import uvicorn
from sqlalchemy import func, select

from freshness.app import create_app
from freshness.client import uploads as client_uploads
from freshness.models import Snapshot, Upload
from tests.conftest import Api, register

MAX_BODY = 16_000


@pytest.fixture
def live(settings, clock, keys) -> Iterator[tuple[str, object]]:
    """The app on a loopback port with a small body limit: (its URL, its runtime)."""
    app = create_app(replace(settings, max_body=MAX_BODY), clock=clock)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the service did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", app.state.runtime
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture
def admin(live, keys) -> Iterator[Api]:
    """An admin of the live service (the in-process test app would hold the same embedded store)."""
    url, _ = live
    with httpx.Client(base_url=url, timeout=30) as http:
        yield Api(http, keys.admin)  # type: ignore[arg-type]  # httpx.Client takes the same calls


@pytest.fixture
def through_api(cli, live, keys, monkeypatch):
    url, _ = live
    monkeypatch.setenv("FRESHNESS_API_URL", url)
    monkeypatch.setenv("FRESHNESS_KEY", keys.support)
    return cli


@pytest.fixture
def bars(monkeypatch) -> list[list[tuple[int, int | None]]]:
    """Every progress bar the command shows, as the (completed, total) it was moved to."""
    shown: list[list[tuple[int, int | None]]] = []
    add_task, update = rich.progress.Progress.add_task, rich.progress.Progress.update

    def counted_add(self, *args, **kwargs):
        shown.append([])
        return add_task(self, *args, **kwargs)

    def counted_update(self, task, **kwargs):
        if "completed" in kwargs:
            shown[-1].append((kwargs["completed"], kwargs.get("total")))
        return update(self, task, **kwargs)

    monkeypatch.setattr(rich.progress.Progress, "add_task", counted_add)
    monkeypatch.setattr(rich.progress.Progress, "update", counted_update)
    return shown


def write_folder(root, files: int, size: int):
    root.mkdir()
    for n in range(files):
        line = f"Section {n}: a customer may return an unused item within {n + 10} days of delivery. "
        (root / f"part-{n:03d}.md").write_text(f"# Part {n}\n\n" + line * (size // len(line) + 1))
    return root


def counts(runtime, source_id: str) -> tuple[int, int]:
    """(snapshots of the source, uploads still stored)."""
    with runtime.sessions() as session:
        snapshots = session.scalar(select(func.count()).select_from(Snapshot).where(Snapshot.source_id == source_id))
        return snapshots or 0, session.scalar(select(func.count()).select_from(Upload)) or 0


def test_a_folder_larger_than_the_body_limit_goes_as_one_staged_upload(through_api, live, admin, tmp_path, bars,
                                                                      monkeypatch):
    _, runtime = live
    register(admin, "refund-policy")
    folder = write_folder(tmp_path / "policy", files=12, size=4_000)  # about 50 KB as a publish body
    monkeypatch.setenv("FRESHNESS_MAX_BODY", str(MAX_BODY))

    result = through_api("publish", "refund-policy", str(folder), "--version", "2026-11-28", "--json")

    assert result.exit_code == 0, result.output
    published = json.loads(result.stdout)
    assert published["changed"] is True
    assert published["stats"]["documents"] == 12
    assert published["snapshot"]["version"] == "2026-11-28"
    assert counts(runtime, "refund-policy") == (1, 0)  # one snapshot; the upload is gone
    detail = admin.get(f"/v1/snapshots/{published['snapshot']['id']}").json()
    assert len(detail["documents"]) == 12
    # One bar, moved batch by batch up to every document.
    assert len(bars) == 1
    done = [completed for completed, _ in bars[0]]
    assert len(done) >= 4 and done == sorted(done) and done[-1] == 12
    assert {total for _, total in bars[0]} == {12}


def test_the_service_limit_is_found_by_its_413_when_the_local_setting_is_larger(through_api, live, admin, tmp_path):
    _, runtime = live
    register(admin, "refund-policy")
    folder = write_folder(tmp_path / "policy", files=6, size=4_000)
    # FRESHNESS_MAX_BODY is left at its default here: 32MiB locally, 16 KB at the service.
    result = through_api("publish", "refund-policy", str(folder))
    assert result.exit_code == 0, result.output
    assert "published" in result.stdout and "6 documents" in result.stdout
    assert counts(runtime, "refund-policy") == (1, 0)


def test_a_refused_commit_abandons_the_upload_and_publishes_nothing(through_api, live, admin, tmp_path, monkeypatch):
    _, runtime = live
    register(admin, "refund-policy")
    folder = write_folder(tmp_path / "policy", files=8, size=4_000)
    monkeypatch.setenv("FRESHNESS_MAX_BODY", str(MAX_BODY))
    # The source is retired while its documents are on their way: the commit is refused.

    real_commit = client_uploads.commit_upload

    def commit_after_retiring(upload_id: str):
        assert admin.delete("/v1/sources/refund-policy").status_code == 200
        return real_commit(upload_id)

    monkeypatch.setattr(client_uploads, "commit_upload", commit_after_retiring)
    result = through_api("publish", "refund-policy", str(folder))
    assert result.exit_code == 1
    assert "409" in result.output and "retired" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert counts(runtime, "refund-policy") == (0, 0)  # nothing published, the upload abandoned


def test_a_folder_that_fits_is_one_publish_without_an_upload(through_api, live, admin, tmp_path, monkeypatch):
    _, runtime = live
    register(admin, "refund-policy")
    folder = write_folder(tmp_path / "policy", files=2, size=1_000)
    opened: list[str] = []
    real_open = client_uploads.open_upload
    monkeypatch.setattr(client_uploads, "open_upload", lambda *a, **kw: opened.append("open") or real_open(*a, **kw))
    result = through_api("publish", "refund-policy", str(folder), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["stats"]["documents"] == 2
    assert opened == []
    assert counts(runtime, "refund-policy") == (1, 0)


def test_another_owners_source_is_refused_in_one_line(through_api, live, admin, tmp_path):
    _, runtime = live
    register(admin, "catalog", source_class="catalog", owner="catalog-team")
    folder = write_folder(tmp_path / "catalog", files=8, size=4_000)
    result = through_api("publish", "catalog", str(folder))
    assert result.exit_code == 1
    assert "403" in result.output and "catalog-team" in result.output
    assert counts(runtime, "catalog") == (0, 0)


def test_verify_goes_through_the_service_too(through_api, live, admin, tmp_path, clock):
    register(admin, "refund-policy")
    folder = write_folder(tmp_path / "policy", files=1, size=500)
    assert through_api("publish", "refund-policy", str(folder)).exit_code == 0
    clock.advance(hours=3)  # the service's clock: only a verify it runs itself gives this moment
    result = through_api("verify", "refund-policy", "--json")
    assert result.exit_code == 0, result.output
    assert datetime.fromisoformat(json.loads(result.stdout)["verified_at"]) == clock.now()
    refused = through_api("verify", "no-such-source")
    assert refused.exit_code == 1 and "404" in refused.output
