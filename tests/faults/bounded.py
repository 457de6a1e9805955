"""Requests sent at once, each given a deadline: a request still waiting past it counts as hung."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

TYPE_BASE = "https://freshness.dev/problems/"


def answers_within(seconds: float, calls: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run every call in its own thread; a call with no answer after `seconds` maps to "hung"."""
    answers: dict[str, Any] = {}

    def run(name: str, call: Callable[[], Any]) -> None:
        try:
            answers[name] = call()
        except Exception as exc:  # reported as the answer, so the assertion names it
            answers[name] = exc

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in calls.items()]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return {name: answers.get(name, "hung") for name in calls}


def assert_problem(answer: Any, status: int, problem_type: str) -> None:
    assert not isinstance(answer, (str, Exception)), f"no answer: {answer!r}"
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json"), answer.headers
    assert answer.json()["type"] == TYPE_BASE + problem_type, answer.text


def starts_with(statement: str, start: str) -> bool:
    """`statement` is `start`..., or a data-modifying CTE of it (PostgreSQL appends records so)."""
    upper = " ".join(statement.upper().split())
    return upper.startswith(start) or (upper.startswith("WITH ") and f"AS ({start}" in upper)
