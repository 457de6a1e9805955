"""`freshness store optimize`: upkeep of the embedded vector store, which only one process may open."""

from __future__ import annotations

import click

from freshness.cli.common import emit_json, handled, json_option, out, read_settings


@click.group()
def store() -> None:
    """The vector store."""


@store.command("optimize")
@json_option
@handled
def store_optimize(as_json: bool) -> None:
    """Build the dense (HNSW) index of the embedded store. Run it while `serve` is stopped."""
    import time

    from freshness.runtime import open_runtime

    settings = read_settings()
    if not settings.uses_embedded_store:
        if as_json:
            emit_json({"optimized": False, "reason": "a Qdrant server optimises its collections itself"})
        else:
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
    if as_json:
        emit_json({"optimized": True, "unindexed_before": before, "unindexed_after": after,
                   "seconds": round(took, 3)})
        return
    out.print(f"optimised in {took:.1f}s: {before} points were not indexed, {after} remain", highlight=False)
