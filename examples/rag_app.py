"""A minimal RAG application on the freshness service: it retrieves context for a question, prints the prompt
it would send to a model with citations built from each chunk's provenance, and takes its fallback path when
the service answers `insufficient_context`. It calls no model. Then it reports what became of the answer
(`--outcome`, default accepted; `fallback` when it took the fallback), so `GET /v1/trust` can tell how well
the content served.

    make run                                   # in another terminal: the service on 127.0.0.1:8000
    export FRESHNESS_API_URL=http://127.0.0.1:8000 FRESHNESS_KEY=fk_...   # a reader key
    python examples/rag_app.py "Can I return a sale item?" --task-class refund_decision
    python examples/rag_app.py "Can I return a sale item?" --task-class refund_decision --langchain
    python examples/rag_app.py "Can I return a sale item?" --task-class refund_decision --outcome edited \
        --edit-seconds 45

Exit code 0 when it answered, 3 when it took the fallback, 1 on an error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from freshness.client import FreshnessAPIError, FreshnessClient, FreshnessClientError, InsufficientContext

FALLBACK = 3


@dataclass
class Passage:
    """One chunk of context and where it came from (the provenance the service attached to it)."""

    text: str
    source_id: str
    document_id: str
    snapshot_id: str
    snapshot_version: str | None
    captured_at: str
    verified_at: str
    uri: str | None
    freshness: str


def through_client(base_url: str, key: str, question: str, task_class: str, top_k: int,
                   sources: Sequence[str]) -> tuple[str, list[Passage]]:
    """The request id and the passages, through the Python client; raises InsufficientContext."""
    with FreshnessClient(base_url, key) as client:
        answer = client.retrieve(question, task_class, top_k=top_k,
                                 filters={"source_ids": list(sources)} if sources else None)
    InsufficientContext.check(answer)
    passages = [Passage(r.text, r.source_id, r.document_id, r.snapshot_id, r.snapshot_version,
                        r.captured_at.isoformat(), r.verified_at.isoformat(), r.uri, r.freshness)
                for r in answer.results]
    return answer.request_id, passages


def through_langchain(base_url: str, key: str, question: str, task_class: str, top_k: int,
                      sources: Sequence[str]) -> tuple[str, list[Passage]]:
    """The same through the LangChain retriever (pip install 'freshness[langchain]')."""
    from freshness.integrations.langchain import FreshnessRetriever

    retriever = FreshnessRetriever(base_url=base_url, api_key=key, task_class=task_class, top_k=top_k,
                                   filters={"source_ids": list(sources)} if sources else None)
    documents = retriever.invoke(question)
    passages = [Passage(d.page_content, *(_meta(d.metadata))) for d in documents]
    request_id = documents[0].metadata["request_id"] if documents else "-"
    return request_id, passages


def _meta(m: Mapping[str, Any]) -> tuple[Any, ...]:
    return (m["source_id"], m["document_id"], m["snapshot_id"], m["snapshot_version"], m["captured_at"],
            m["verified_at"], m["uri"], m["freshness"])


def citation(n: int, p: Passage) -> str:
    version = f"version {p.snapshot_version}" if p.snapshot_version else "unversioned"
    where = f", {p.uri}" if p.uri else ""
    flag = "" if p.freshness == "fresh" else f" [{p.freshness}]"
    return (f"[{n}] {p.source_id} / {p.document_id}, {version} ({p.snapshot_id}), captured {p.captured_at}, "
            f"verified {p.verified_at}{where}{flag}")


def prompt(question: str, passages: Sequence[Passage]) -> str:
    context = "\n\n".join(f"[{n}] {p.text}" for n, p in enumerate(passages, 1))
    return ("Answer the question from the numbered context only, citing it as [n]. If the context does not "
            f"answer it, say so.\n\nContext:\n{context}\n\nQuestion: {question}")


def fallback(question: str, exc: InsufficientContext, out: TextIO) -> int:
    """What the application does instead of answering: a person takes the question, with the evidence."""
    reasons = ", ".join(sorted({r.reason for r in exc.rejected})) or "no matching content"
    print(f"FALLBACK: not enough fresh context to answer (request {exc.request_id}).", file=out)
    print(f"  {len(exc.results)} chunk(s) passed the policy, {len(exc.rejected)} withheld ({reasons}).", file=out)
    for r in exc.rejected:
        print(f"  withheld {r.source_id} ({r.snapshot_id}): {r.reason}, {r.age_seconds}s old, "
              f"max {r.max_age_seconds}s", file=out)
    print(f"  Instead of answering, I would hand \"{question}\" to a human agent with request {exc.request_id},",
          file=out)
    print("  and ask the content owner to publish or verify the sources above.", file=out)
    return FALLBACK


def report_outcome(base_url: str, key: str, request_id: str, outcome: Any, edit_seconds: float | None,
                   out: TextIO) -> None:
    """Tell the service what became of the answer. A failure here loses only the figure, not the answer."""
    try:
        with FreshnessClient(base_url, key) as client:
            client.record_outcome(request_id, outcome, edit_seconds=edit_seconds)
    except (FreshnessAPIError, FreshnessClientError) as exc:
        print(f"warning: the outcome of request {request_id} was not recorded: {exc}", file=sys.stderr)
        return
    print(f"Outcome of request {request_id} recorded: {outcome}.", file=out)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] = os.environ, out: TextIO = sys.stdout) -> int:
    parser = argparse.ArgumentParser(description="Answer a question from fresh context (prints, calls no model).")
    parser.add_argument("question")
    parser.add_argument("--task-class", required=True, help="e.g. refund_decision, general_question")
    parser.add_argument("--top-k", type=int, default=4)
    parser.add_argument("--source", action="append", default=[], help="only this source (repeatable)")
    parser.add_argument("--langchain", action="store_true", help="retrieve through the LangChain retriever")
    parser.add_argument("--outcome", choices=["accepted", "edited", "escalated", "rejected"], default="accepted",
                        help="what became of the answer, reported to the service (a fallback reports itself)")
    parser.add_argument("--edit-seconds", type=float, default=None, help="time spent correcting the answer")
    args = parser.parse_args(argv)
    base_url, key = env.get("FRESHNESS_API_URL", "http://127.0.0.1:8000"), env.get("FRESHNESS_KEY")
    if not key:
        print("error: set FRESHNESS_KEY to a reader key (freshness keys create --role reader)", file=sys.stderr)
        return 1
    retrieve = through_langchain if args.langchain else through_client
    try:
        request_id, passages = retrieve(base_url, key, args.question, args.task_class, args.top_k, args.source)
    except InsufficientContext as exc:
        code = fallback(args.question, exc, out)
        report_outcome(base_url, key, exc.request_id, "fallback", None, out)
        return code
    except FreshnessAPIError as exc:
        print(f"error: the service answered {exc.status}: {exc.detail}", file=sys.stderr)
        return 1
    except FreshnessClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Request {request_id}: {len(passages)} passage(s) of context.\n", file=out)
    print("--- prompt (this example sends it to no model) ---", file=out)
    print(prompt(args.question, passages), file=out)
    print("\n--- citations ---", file=out)
    for n, p in enumerate(passages, 1):
        print(citation(n, p), file=out)
    if request_id != "-":
        report_outcome(base_url, key, request_id, args.outcome, args.edit_seconds, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
