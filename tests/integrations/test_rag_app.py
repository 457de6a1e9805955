"""examples/rag_app.py against a running service: the prompt with citations, or the fallback."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rag_app.py"


@pytest.fixture(scope="module")
def rag_app():
    spec = importlib.util.spec_from_file_location("rag_app", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["rag_app"] = module  # its dataclass looks its module up by name
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("rag_app", None)


def run(rag_app, service_url, key, *args):
    out = io.StringIO()
    code = rag_app.main(list(args), {"FRESHNESS_API_URL": service_url, "FRESHNESS_KEY": key}, out)
    return code, out.getvalue()


@pytest.mark.parametrize("through", [(), ("--langchain",)])
def test_the_prompt_carries_citations_from_the_provenance(rag_app, service_url, keys, through):
    code, printed = run(rag_app, service_url, keys.reader, "refund within 30 days", "--task-class",
                        "refund_decision", "--top-k", "2", *through)
    assert code == 0, printed
    assert "Question: refund within 30 days" in printed and "[1] Refunds are accepted within 30 days" in printed
    citations = printed.split("--- citations ---")[1]
    assert "[1] refund-policy / refunds.md, version 2026-11 (snap_" in citations
    assert "https://help.example.com/refunds" in citations and "captured 2026-" in citations


@pytest.mark.parametrize("through", [(), ("--langchain",)])
def test_stale_context_takes_the_fallback(rag_app, service_url, keys, clock, through):
    clock.advance(days=8)
    code, printed = run(rag_app, service_url, keys.reader, "refund within 30 days", "--task-class",
                        "refund_decision", *through)
    assert code == rag_app.FALLBACK
    assert printed.startswith("FALLBACK: not enough fresh context") and "withheld refund-policy" in printed
    assert "human agent" in printed and "prompt" not in printed


def test_a_refusal_is_an_error_not_a_fallback(rag_app, service_url, keys, capsys):
    code, printed = run(rag_app, service_url, keys.reader, "refund", "--task-class", "no_such_task")
    assert code == 1 and printed == ""
    assert "422" in capsys.readouterr().err
