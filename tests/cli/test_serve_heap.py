"""`serve` freezes what it holds from its start before it takes requests (freshness.runtime.freeze_heap)."""

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
