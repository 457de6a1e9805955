"""The vector store behind a small interface, with Qdrant Edge and Qdrant server adapters."""

from freshness.vectorstore.base import ChunkPoint, Hit, SearchFilter, SparseVec, VectorStore
from freshness.vectorstore.factory import open_store

__all__ = ["ChunkPoint", "Hit", "SearchFilter", "SparseVec", "VectorStore", "open_store"]
