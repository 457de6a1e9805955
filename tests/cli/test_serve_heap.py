"""`serve` freezes what it holds from its start before it takes requests (freshness.runtime.freeze_heap), and parses
HTTP with h11, which bounds a request's headers, whatever else is installed."""

from __future__ import annotations

import gc

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


def test_serve_parses_http_with_h11_even_where_httptools_is_installed(cli, monkeypatch):
    seen: dict[str, object] = {}

    def run(app, **options) -> None:
        seen.update(options)

    monkeypatch.setattr(uvicorn, "run", run)
    try:
        result = cli("serve", "--no-scheduler")
    finally:
        gc.unfreeze()
    assert result.exit_code == 0, result.output
    assert seen["http"] == "h11"  # "auto" would take httptools, which buffers headers without a bound
