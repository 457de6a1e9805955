"""The README's "Python client and retrievers" runs as written against a running service: each python snippet,
the RAG app's command lines and the command-line examples that need no earlier step's variables."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from freshness.client import FreshnessClient
from freshness.refresh.files import read_documents

ROOT = Path(__file__).resolve().parents[2]
KB = ROOT / "examples" / "support-kb"


def section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Python client and retrievers")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section(), flags=re.S)


@pytest.fixture
def walkthrough(service_url, keys):
    """Sources named as in the README's walkthrough (service_url has published refund-policy)."""
    with FreshnessClient(service_url, keys.admin) as admin:
        admin.register_source("shipping-faq", title="Shipping FAQ", owner="support", source_class="faq")
        admin.publish("shipping-faq", read_documents(KB / "shipping-faq"), version="2026-11")
    return service_url


def run(command: list[str], url: str, key: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FRESHNESS_API_URL": url, "FRESHNESS_KEY": key}
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def test_the_section_has_the_client_langchain_and_llama_index_snippets():
    code = blocks("python")
    assert len(code) == 3
    assert "FreshnessClient" in code[0]
    assert "integrations.langchain" in code[1] and "integrations.llama_index" in code[2]


@pytest.mark.parametrize("index", [0, 1, 2], ids=["client", "langchain", "llama-index"])
def test_each_python_snippet_runs_as_written(walkthrough, keys, index):
    done = run([sys.executable, "-c", blocks("python")[index]], walkthrough, keys.reader)
    assert done.returncode == 0, done.stderr
    assert "refund-policy" in done.stdout


def test_the_rag_app_and_the_command_lines_run_as_written(walkthrough, keys):
    lines = [line.split("#")[0].strip() for block in blocks("sh") for line in block.splitlines()]
    rag = [line for line in lines if line.startswith(".venv/bin/python examples/rag_app.py")]
    assert len(rag) == 2
    for line in rag:
        done = run([sys.executable, *shlex.split(line)[1:]], walkthrough, keys.reader)
        assert done.returncode in (0, 3), done.stderr  # 3: the fallback path, taken on purpose
        assert "--- citations ---" in done.stdout or done.stdout.startswith("FALLBACK")

    commands = [line for line in lines if line.startswith("fx ") and "$" not in line]
    assert any(c.startswith("fx retrieve") for c in commands) and any("audit export" in c for c in commands)
    for line in commands:
        done = run([sys.executable, "-m", "freshness.cli", *shlex.split(line)[1:]], walkthrough, keys.admin)
        assert done.returncode == 0, (line, done.stderr)
