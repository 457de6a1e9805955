"""`serve` freezes what it holds from its start before it takes requests (freshness.runtime.freeze_heap), and runs
on uvicorn's C event loop and HTTP parser."""

from __future__ import annotations

import gc
import sys

import pytest
import uvicorn


def test_serve_freezes_the_heap_before_it_serves(cli, monkeypatch):
    seen: dict[str, int] = {}

    def run(app, **options) -> None:
        seen["frozen"] = gc.get_freeze_count()

    monkeypatch.setattr(uvicorn, "run", run)
    gc.unfreeze()
    try:
        result = cli("serve", "--no-scheduler")
        assert result.exit_code == 0, result.output
        assert seen["frozen"] > 0
    finally:
        gc.unfreeze()  # the test process goes on: let what it frees be collected


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop has no Windows build")
def test_serve_runs_on_uvloop_and_httptools(cli, monkeypatch):
    """uvicorn's C event loop and HTTP parser: `serve` leaves uvicorn to pick them, so they must be installed."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    seen: dict[str, object] = {}

    def run(app, **options) -> None:
        config = uvicorn.Config(app, **options)
        config.load()
        seen["http"] = config.http_protocol_class
        loop = config.get_loop_factory()()
        seen["loop"] = type(loop).__module__
        loop.close()

    monkeypatch.setattr(uvicorn, "run", run)
    try:
        result = cli("serve", "--no-scheduler")
    finally:
        gc.unfreeze()
    assert result.exit_code == 0, result.output
    assert seen["http"] is HttpToolsProtocol
    assert seen["loop"].startswith("uvloop")
