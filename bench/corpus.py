"""A deterministic corpus: sources of several classes, documents cut into chunks of Zipf-distributed words.

Everything derives from one seed, source by source, so a pass over the corpus regenerates it
without holding it in memory (a publisher holds one source's body at a time, and so does the bench).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from freshness.sources.schemas import DocumentIn, PublishRequest

# Max ages of config/policy.toml, which the benchmark runs with.
CLASSES = {"policy": timedelta(days=7), "catalog": timedelta(hours=24), "faq": timedelta(days=30)}
OWNERS = {"policy": "support", "catalog": "catalog-team", "faq": "support"}
TASKS = ("refund_decision", "order_status", "general_question")
STALE_EVERY = 5  # every fifth source is older than its class's max age
TOPIC_SHARE = 0.15  # share of a chunk's words drawn from its source's topic


@dataclass(frozen=True)
class Size:
    name: str
    sources: int
    docs_per_source: int
    chunks_per_doc: int
    words_per_chunk: int
    queries: int  # per in-process series and per HTTP series with one client
    http_concurrent_requests: int  # total requests of the 16-client series
    big_source_chunks: int  # the publish measured while retrievals run
    audit_records: int
    dense_dim: int = 64

    @property
    def chunks(self) -> int:
        return self.sources * self.docs_per_source * self.chunks_per_doc

    @property
    def documents(self) -> int:
        return self.sources * self.docs_per_source


SIZES = {
    "tiny": Size("tiny", 6, 4, 3, 40, 30, 64, 60, 1_000, dense_dim=16),
    "small": Size("small", 40, 50, 5, 120, 1_000, 4_000, 5_000, 100_000),
    "large": Size("large", 200, 100, 5, 120, 2_000, 16_000, 20_000, 1_000_000),
}


@dataclass(frozen=True)
class SourceSpec:
    index: int
    id: str
    source_class: str
    owner: str
    tags: tuple[str, ...]
    stale: bool
    age: timedelta  # captured_at = now - age, the same on every pass


class Corpus:
    """The sources, documents and queries of one size, reproducible from `seed`."""

    def __init__(self, size: Size, seed: int = 7, vocabulary: int = 30_000) -> None:
        self.size = size
        self.seed = seed
        rng = np.random.default_rng([seed, 0])
        self.words = _vocabulary(rng, vocabulary)
        ranks = np.arange(1, vocabulary + 1, dtype=np.float64)
        weights = ranks ** -1.07
        self._cdf = np.cumsum(weights / weights.sum())
        self.sources = [self._source(i) for i in range(size.sources)]
        self._centroids = rng.standard_normal((size.sources, size.dense_dim)).astype(np.float32)

    def _source(self, i: int) -> SourceSpec:
        klass = list(CLASSES)[i % len(CLASSES)]
        stale = i % STALE_EVERY == STALE_EVERY - 1
        max_age = CLASSES[klass]
        # Stale sources are half again as old as allowed; fresh ones a fifth of it (fresh for every task class).
        age = max_age * 1.5 if stale else max_age * 0.2
        tags = ("region-eu",) if i % 2 else ("region-us",)
        return SourceSpec(i, f"{klass}-{i:04d}", klass, OWNERS[klass], tags, stale, age)

    def _topic(self, source: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 1, source])
        return rng.integers(300, 8_000, size=40)

    def _sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.minimum(np.searchsorted(self._cdf, rng.random(n)), len(self.words) - 1)

    def _chunk_text(self, rng: np.random.Generator, topic: np.ndarray) -> str:
        n = self.size.words_per_chunk
        idx = self._sample(rng, n)
        from_topic = rng.random(n) < TOPIC_SHARE
        idx[from_topic] = rng.choice(topic, size=int(from_topic.sum()))
        words = [self.words[k] for k in idx]
        sentences = []
        for start in range(0, n, 12):
            part = words[start : start + 12]
            sentences.append(part[0].capitalize() + " " + " ".join(part[1:]) + ".")
        return " ".join(sentences)

    def _vector(self, rng: np.random.Generator, source: int) -> list[float]:
        v = self._centroids[source] + 0.6 * rng.standard_normal(self.size.dense_dim).astype(np.float32)
        return (v / np.linalg.norm(v)).tolist()

    def documents(self, source: SourceSpec, changed: frozenset[int] = frozenset(), dense: bool = True
                  ) -> list[DocumentIn]:
        """The documents of one source; those in `changed` get a second revision of their text."""
        topic = self._topic(source.index)
        docs = []
        for d in range(self.size.docs_per_source):
            revision = 1 if d in changed else 0
            rng = np.random.default_rng([self.seed, 2, source.index, d, revision])
            chunks = [self._chunk_text(rng, topic) for _ in range(self.size.chunks_per_doc)]
            vectors = [self._vector(rng, source.index) for _ in chunks] if dense else None
            docs.append(DocumentIn(
                id=f"doc-{d:05d}",
                title=f"{self.words[int(topic[d % len(topic)])].capitalize()} {d}",
                uri=f"https://kb.example.com/{source.id}/doc-{d:05d}",
                metadata={"revision": revision},
                chunks=chunks,
                vectors=vectors,
            ))
        return docs

    def publish_request(self, source: SourceSpec, now: datetime, changed: frozenset[int] = frozenset(),
                        dense: bool = True) -> PublishRequest:
        return PublishRequest(documents=self.documents(source, changed, dense), version="v2" if changed else "v1",
                              captured_at=now - source.age)

    def spread_changes(self, share: float = 0.01, round_: int = 0) -> dict[int, frozenset[int]]:
        """source index -> documents to change: `share` of all documents, spread evenly so that every source
        has one when there are as many to change as sources; `round_` picks another set."""
        rng = np.random.default_rng([self.seed, 6, round_])
        total = max(1, round(self.size.documents * share))
        per, extra = divmod(total, self.size.sources)
        more = set(rng.choice(self.size.sources, size=extra, replace=False).tolist())
        out = {}
        for s in range(self.size.sources):
            count = min(self.size.docs_per_source, per + (s in more))
            if count:
                out[s] = frozenset(rng.choice(self.size.docs_per_source, size=count, replace=False).tolist())
        return out

    def big_source(self, chunks: int) -> tuple[SourceSpec, list[DocumentIn]]:
        """One extra source large enough that publishing it takes a while."""
        spec = SourceSpec(self.size.sources, "faq-big", "faq", "support", ("region-eu",), False, timedelta(days=1))
        topic = self._topic(spec.index % self.size.sources)
        per_doc = 50
        docs = []
        for d in range(max(1, chunks // per_doc)):
            rng = np.random.default_rng([self.seed, 4, d])
            texts = [self._chunk_text(rng, topic) for _ in range(min(per_doc, chunks))]
            docs.append(DocumentIn(id=f"big-{d:05d}", chunks=texts,
                                   vectors=[self._vector(rng, spec.index % self.size.sources) for _ in texts]))
        return spec, docs

    def queries(self, n: int, salt: int = 0) -> Iterator[Query]:
        """Queries of 2 topic words and 2 common words, over every task class."""
        rng = np.random.default_rng([self.seed, 5, salt])
        for i in range(n):
            source = int(rng.integers(0, self.size.sources))
            topic = self._topic(source)
            words = [self.words[int(k)] for k in rng.choice(topic, size=2, replace=False)]
            words += [self.words[int(k)] for k in self._sample(rng, 2)]
            rng.shuffle(words)
            v = self._vector(rng, source)
            yield Query(" ".join(words), TASKS[i % len(TASKS)], v)


@dataclass(frozen=True)
class Query:
    text: str
    task_class: str
    vector: list[float]


def _vocabulary(rng: np.random.Generator, n: int) -> list[str]:
    """n distinct pronounceable words of 1 to 4 syllables."""
    onsets = ["", "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "br", "cl", "dr",
              "fl", "gr", "pl", "pr", "sh", "st", "tr", "ch", "th"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ea", "io", "ou"]
    codas = ["", "", "n", "r", "s", "t", "l", "m", "nd", "st", "rk"]
    seen: set[str] = set()
    words: list[str] = []
    while len(words) < n:
        syllables = int(rng.integers(1, 5))
        word = "".join(
            onsets[rng.integers(len(onsets))] + vowels[rng.integers(len(vowels))] + codas[rng.integers(len(codas))]
            for _ in range(syllables)
        )
        if len(word) > 2 and word not in seen:
            seen.add(word)
            words.append(word)
    # Short words first: frequent words are short in natural text.
    words.sort(key=lambda w: (len(w), w))
    order = rng.permutation(len(words))
    # Keep a rough length-frequency relation but break the alphabetical ordering within lengths.
    buckets: dict[int, list[str]] = {}
    for k in order:
        buckets.setdefault(len(words[k]), []).append(words[k])
    return [w for length in sorted(buckets) for w in buckets[length]]
