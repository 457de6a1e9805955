"""Opening the store that the settings name."""

from __future__ import annotations

from freshness.settings import Settings
from freshness.vectorstore.base import VectorStore


def open_store(settings: Settings, vector_size: int | None = None) -> VectorStore:
    """`edge` opens the embedded shard in the data dir; a URL (or `local:PATH`) opens qdrant-client."""
    size = vector_size or settings.vector_size
    if settings.uses_embedded_store:
        from freshness.vectorstore.edge import EdgeStore

        return EdgeStore(settings.store_path, size)
    from freshness.vectorstore.server import ServerStore

    return ServerStore.connect(settings.vector_store, settings.qdrant_api_key, settings.collection, size)
