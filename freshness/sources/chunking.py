"""Cutting document text into chunks with semantic-text-splitter (sentence and paragraph aware)."""

from __future__ import annotations

from functools import lru_cache

from semantic_text_splitter import TextSplitter


@lru_cache(maxsize=8)
def _splitter(size: int, overlap: int) -> TextSplitter:
    return TextSplitter(capacity=size, overlap=overlap, trim=True)


def split_text(text: str, size: int, overlap: int) -> list[str]:
    chunks = [c for c in _splitter(size, overlap).chunks(text) if c.strip()]
    return chunks or ([text.strip()] if text.strip() else [])
