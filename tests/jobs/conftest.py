"""Scheduled-job fixtures: the app's runtime, a job runner, and a content server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler

import pytest

from freshness.jobs.runner import run_job
from freshness.jobs.scheduler import JOBS
from freshness.runtime import Runtime
from tests.loopback import serving


@pytest.fixture
def settings(settings, tmp_path):
    """The refresh tests read folders under the test's temp dir and pages from a loopback server,
    so the operator's settings open exactly those."""
    return replace(settings, file_roots=(tmp_path,), fetch_allow=("127.0.0.1",))


@pytest.fixture
def runtime(admin) -> Runtime:
    return admin.client.app.state.runtime


@pytest.fixture
def run(runtime):
    """Run one job now, as the scheduler would; the recorded run (or None when skipped)."""

    def go(name: str, holder: str = "test-scheduler"):
        return run_job(runtime, JOBS[name], holder)

    return go


@dataclass
class Page:
    status: int = 200
    body: str = ""
    content_type: str = "text/plain; charset=utf-8"
    etag: str | None = None


@dataclass
class ContentServer:
    """Serves `pages[path]`; answers 304 when If-None-Match matches the page's ETag."""

    url: str
    pages: dict[str, Page] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location of a 302
    requests: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def content_server() -> Iterator[ContentServer]:
    state = ContentServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            state.requests.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
            if self.path in state.redirects:
                self.send_response(302)
                self.send_header("Location", state.redirects[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            page = state.pages.get(self.path)
            if page is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if page.status == 200 and page.etag and self.headers.get("If-None-Match") == page.etag:
                self.send_response(304)
                self.send_header("ETag", page.etag)
                self.end_headers()
                return
            data = page.body.encode()
            self.send_response(page.status)
            self.send_header("Content-Type", page.content_type)
            self.send_header("Content-Length", str(len(data)))
            if page.etag:
                self.send_header("ETag", page.etag)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    with serving(Handler) as url:
        state.url = url
        yield state

