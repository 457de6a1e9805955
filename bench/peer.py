"""Re-publishing side by side with a peer: LangChain's indexing API on the same corpus.

The peer is `langchain_core.indexing.index()` with a `SQLRecordManager` (SQLite) and a
`QdrantVectorStore` (qdrant-client's local mode on disk, sparse retrieval), each source indexed by one
`index()` call with `scoped_full` cleanup keyed by its source id: as a freshness publish of a source, what
the call does not bring again is deleted. (`incremental` cleanup deletes a source's chunks that a later
batch of the same call would bring: it suits sources that fit in one batch of 100, these do not.)
Both embed with `qdrant_edge.Bm25` (the peer through a small `SparseEmbeddings` adapter) and neither is
given dense vectors, so both do the same embedding work; only the publish and `index()` calls are timed.

Three phases on 10 sources × 100 documents: the first publish, an unchanged re-publish, and a re-publish
with 1% of the documents changed, one in every source. Needs the `bench` extra
(`pip install -e '.[dev,bench]'`); `python -m bench.peer [--root DIR]` prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench.corpus import SIZES, Corpus, Size
from bench.ingestion import register_all
from bench.workspace import OPERATOR, Workspace
from freshness.sources.publish import publish

PEER_SIZE = Size("peer", 10, 100, 5, 120, 0, 0, 0, 0)
PHASES = ("first", "unchanged", "changed")


@dataclass
class Phase:
    seconds: float = 0.0
    written: int = 0  # chunks embedded (freshness) or documents added or updated (the peer)
    deleted: int = 0


def run_freshness(corpus: Corpus, root: Path) -> dict[str, Phase]:
    workspace = Workspace(root / "freshness")
    workspace.create()
    runtime = workspace.open()
    out: dict[str, Phase] = {}
    try:
        register_all(runtime, corpus.sources)
        for phase in PHASES:
            changed = corpus.spread_changes(0.01) if phase == "changed" else {}
            result = out[phase] = Phase()
            now = runtime.clock.now()
            for spec in corpus.sources:
                body = corpus.publish_request(spec, now, changed.get(spec.index, frozenset()), dense=False)
                started = time.perf_counter()
                published = publish(runtime, OPERATOR, spec.id, body)
                result.seconds += time.perf_counter() - started
                result.written += published.stats.chunks_embedded
    finally:
        runtime.close()
    return out


def run_langchain(corpus: Corpus, root: Path) -> dict[str, Phase]:
    import qdrant_edge as qe
    from langchain_classic.indexes import SQLRecordManager
    from langchain_core.documents import Document
    from langchain_core.indexing import index
    from langchain_qdrant import QdrantVectorStore, RetrievalMode, SparseEmbeddings, SparseVector
    from qdrant_client import QdrantClient, models

    class Bm25Sparse(SparseEmbeddings):
        """qdrant_edge's BM25, the embedder freshness uses, as LangChain's sparse embeddings."""

        def __init__(self) -> None:
            self._bm25 = qe.Bm25()

        def embed_documents(self, texts: list[str]) -> list[SparseVector]:
            out = []
            for text in texts:
                vec = self._bm25.embed_document(text)
                out.append(SparseVector(indices=list(vec.indices), values=list(vec.values)))
            return out

        def embed_query(self, text: str) -> SparseVector:
            vec = self._bm25.embed_query(text)
            return SparseVector(indices=list(vec.indices), values=list(vec.values))

    root.mkdir(parents=True, exist_ok=True)
    client = QdrantClient(path=str(root / "qdrant"))
    client.create_collection("peer", vectors_config={}, sparse_vectors_config={
        "bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)})
    store = QdrantVectorStore(client, "peer", retrieval_mode=RetrievalMode.SPARSE, sparse_embedding=Bm25Sparse(),
                              sparse_vector_name="bm25")
    records = SQLRecordManager("peer", db_url=f"sqlite:///{root / 'records.db'}")
    records.create_schema()
    out: dict[str, Phase] = {}
    try:
        for phase in PHASES:
            changed = corpus.spread_changes(0.01) if phase == "changed" else {}
            result = out[phase] = Phase()
            for spec in corpus.sources:
                docs = [Document(page_content=text, metadata={"source": spec.id, "document_id": doc.id,
                                                              "position": i, "uri": doc.uri})
                        for doc in corpus.documents(spec, changed.get(spec.index, frozenset()), dense=False)
                        for i, text in enumerate(doc.chunks or [])]
                started = time.perf_counter()
                indexed = index(docs, records, store, cleanup="scoped_full", source_id_key="source",
                                key_encoder=_document_key)
                result.seconds += time.perf_counter() - started
                result.written += indexed["num_added"] + indexed["num_updated"]
                result.deleted += indexed["num_deleted"]
    finally:
        client.close()
    return out


def _document_key(document: object) -> str:
    """SHA-256 of a chunk's text and metadata, as a UUID: qdrant-client takes no other kind of string id."""
    content = getattr(document, "page_content", "")
    metadata = json.dumps(getattr(document, "metadata", {}), sort_keys=True)
    return str(uuid.UUID(hashlib.sha256(f"{content}\n{metadata}".encode()).hexdigest()[:32]))


def available() -> bool:
    """Whether the `bench` extra is installed."""
    try:
        import langchain_classic.indexes  # noqa: F401
        import langchain_core.indexing  # noqa: F401
        import langchain_qdrant  # noqa: F401
    except ImportError:
        return False
    return True


def run(root: Path, seed: int = 7, size: Size = PEER_SIZE) -> dict:
    """Both, one after the other, on the same corpus; seconds per phase and freshness's speed-up."""
    corpus = Corpus(size, seed)
    ours = run_freshness(corpus, root)
    peer = run_langchain(corpus, root / "langchain")
    return {
        "documents": size.documents,
        "chunks": size.chunks,
        "changed_documents": sum(len(d) for d in corpus.spread_changes(0.01).values()),
        "freshness": {name: vars(phase) for name, phase in ours.items()},
        "langchain": {name: vars(phase) for name, phase in peer.items()},
        "speedup": {name: peer[name].seconds / ours[name].seconds if ours[name].seconds else float("inf")
                    for name in PHASES},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tiny", action="store_true", help="The tiny corpus (for the smoke test), not 10 × 100.")
    parser.add_argument("--out", type=Path, default=None, help="Write the JSON here instead of printing it.")
    args = parser.parse_args()
    root = args.root or Path(tempfile.mkdtemp(prefix="freshness-peer-"))
    text = json.dumps(run(root, args.seed, SIZES["tiny"] if args.tiny else PEER_SIZE), indent=2)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
