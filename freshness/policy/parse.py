"""Reading a policy file: every problem is reported with the key it concerns."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from freshness.errors import PolicyInvalid
from freshness.hashing import content_hash
from freshness.policy.durations import DurationError, parse_duration
from freshness.policy.model import Criticality, OnStale, Policy, SourceClass, TaskClass, TrustThresholds

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SOURCE_KEYS = {"max_age", "warn_age", "description"}
_TASK_KEYS = {"criticality", "on_stale", "min_fresh_results", "source_classes", "max_age", "description"}
_TRUST_KEYS = {"min_outcomes", "max_burden_increase", "max_fallback_increase"}


def _fail(key: str, problem: str) -> PolicyInvalid:
    return PolicyInvalid(f"policy {key}: {problem}", key=key)


def _duration(key: str, value: Any) -> tuple[int, str]:
    """Seconds of a duration and its text as written, which `GET /v1/policy` shows."""
    try:
        return parse_duration(value), value.strip()
    except DurationError as exc:
        raise _fail(key, str(exc)) from exc


def _table(key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(key, f"expected a table, got {type(value).__name__}")
    return value


def _unknown(key: str, table: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(table) - allowed)
    if extra:
        name = f"{key}.{extra[0]}" if key else extra[0]
        raise _fail(name, f"unknown key; allowed keys are {', '.join(sorted(allowed))}")


def _source_class(name: str, raw: Any) -> SourceClass:
    key = f"source_classes.{name}"
    if not _NAME.match(name):
        raise _fail(key, "class names use letters, digits, '.', '_' and '-'")
    table = _table(key, raw)
    _unknown(key, table, _SOURCE_KEYS)
    if "max_age" not in table:
        raise _fail(f"{key}.max_age", "is required")
    max_age, max_age_text = _duration(f"{key}.max_age", table["max_age"])
    warn_age: int | None = None
    warn_age_text: str | None = None
    if "warn_age" in table:
        warn_age, warn_age_text = _duration(f"{key}.warn_age", table["warn_age"])
        if warn_age >= max_age:
            raise _fail(f"{key}.warn_age", "must be shorter than max_age")
    return SourceClass(
        name=name, max_age=max_age, warn_age=warn_age, max_age_text=max_age_text, warn_age_text=warn_age_text
    )


def _task_class(name: str, raw: Any, source_classes: dict[str, SourceClass]) -> TaskClass:
    key = f"task_classes.{name}"
    if not _NAME.match(name):
        raise _fail(key, "class names use letters, digits, '.', '_' and '-'")
    table = _table(key, raw)
    _unknown(key, table, _TASK_KEYS)
    raw_crit = table.get("criticality", "standard")
    try:
        criticality = Criticality(raw_crit)
    except ValueError as exc:
        allowed = ", ".join(c.value for c in Criticality)
        raise _fail(f"{key}.criticality", f"{raw_crit!r} is not one of {allowed}") from exc
    default_on_stale = OnStale.REJECT if criticality is Criticality.CRITICAL else OnStale.FLAG
    raw_on_stale = table.get("on_stale", default_on_stale.value)
    try:
        on_stale = OnStale(raw_on_stale)
    except ValueError as exc:
        raise _fail(f"{key}.on_stale", f"{raw_on_stale!r} is not one of reject, flag") from exc
    if criticality is Criticality.CRITICAL and on_stale is OnStale.FLAG:
        raise _fail(f"{key}.on_stale", "a critical task class must reject stale chunks (on_stale = \"reject\")")
    min_fresh = table.get("min_fresh_results", 1 if criticality is Criticality.CRITICAL else 0)
    if not isinstance(min_fresh, int) or isinstance(min_fresh, bool) or min_fresh < 0 or min_fresh > 100:
        raise _fail(f"{key}.min_fresh_results", f"expected a whole number from 0 to 100, got {min_fresh!r}")
    allowed_classes: tuple[str, ...] | None = None
    if "source_classes" in table:
        raw_classes = table["source_classes"]
        if not isinstance(raw_classes, list) or not all(isinstance(c, str) for c in raw_classes):
            raise _fail(f"{key}.source_classes", "expected a list of source class names")
        if not raw_classes:
            raise _fail(f"{key}.source_classes",
                        "is empty, so the task class could never be served; leave it out to allow every class")
        for klass in raw_classes:
            if klass not in source_classes:
                raise _fail(f"{key}.source_classes", f"unknown source class {klass!r}")
        allowed_classes = tuple(sorted(set(raw_classes)))
    overrides: dict[str, int] = {}
    override_texts: dict[str, str] = {}
    if "max_age" in table:
        for klass, value in _table(f"{key}.max_age", table["max_age"]).items():
            if klass not in source_classes:
                raise _fail(f"{key}.max_age.{klass}", "unknown source class")
            if allowed_classes is not None and klass not in allowed_classes:
                raise _fail(f"{key}.max_age.{klass}", "the task class does not use this source class")
            overrides[klass], override_texts[klass] = _duration(f"{key}.max_age.{klass}", value)
            if overrides[klass] > source_classes[klass].max_age:
                own = source_classes[klass].max_age_written
                raise _fail(f"{key}.max_age.{klass}",
                            f"must not be longer than the class's own max_age ({own}); an override only tightens it")
    return TaskClass(
        name=name,
        criticality=criticality,
        on_stale=on_stale,
        min_fresh_results=min_fresh,
        source_classes=allowed_classes,
        max_age=dict(sorted(overrides.items())),
        max_age_text=dict(sorted(override_texts.items())),
    )


def _trust(raw: Any) -> TrustThresholds:
    table = _table("trust", raw)
    _unknown("trust", table, _TRUST_KEYS)
    defaults = TrustThresholds()
    min_outcomes = table.get("min_outcomes", defaults.min_outcomes)
    if not isinstance(min_outcomes, int) or isinstance(min_outcomes, bool) or not 0 <= min_outcomes <= 1_000_000:
        raise _fail("trust.min_outcomes", f"expected a whole number from 0 to 1000000, got {min_outcomes!r}")
    fractions = {}
    for key, upper in (("max_burden_increase", None), ("max_fallback_increase", 1.0)):
        value = table.get(key, getattr(defaults, key))
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0 \
                or (upper is not None and value > upper) or value == float("inf"):
            bound = f"from 0 to {upper:g}" if upper is not None else "of 0 or more"
            raise _fail(f"trust.{key}", f"expected a number {bound}, got {value!r}")
        fractions[key] = float(value)
    return TrustThresholds(min_outcomes=min_outcomes, **fractions)


def canonical_form(policy_sources: dict[str, SourceClass], tasks: dict[str, TaskClass],
                   trust: TrustThresholds | None = None) -> dict:
    """What the version hashes. `trust` only when the file has a [trust] table, so that the versions of
    policies written before the table existed stay as they were."""
    form = {
        "source_classes": {
            name: {"max_age": c.max_age, "warn_age": c.warn_age} for name, c in sorted(policy_sources.items())
        },
        "task_classes": {
            name: {
                "criticality": t.criticality.value,
                "on_stale": t.on_stale.value,
                "min_fresh_results": t.min_fresh_results,
                "source_classes": list(t.source_classes) if t.source_classes is not None else None,
                "max_age": t.max_age,
            }
            for name, t in sorted(tasks.items())
        },
    }
    if trust is not None:
        form["trust"] = {"min_outcomes": trust.min_outcomes, "max_burden_increase": trust.max_burden_increase,
                         "max_fallback_increase": trust.max_fallback_increase}
    return form


def parse_policy(text: str, origin: str = "policy") -> Policy:
    """Validate policy TOML text and return the policy with its version."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyInvalid(f"{origin} is not valid TOML: {exc}", key=None) from exc
    _unknown("", data, {"source_classes", "task_classes", "trust"})
    raw_sources = _table("source_classes", data.get("source_classes", {}))
    raw_tasks = _table("task_classes", data.get("task_classes", {}))
    if not raw_sources:
        raise _fail("source_classes", "define at least one source class")
    sources = {name: _source_class(name, raw) for name, raw in raw_sources.items()}
    if not raw_tasks:
        raise _fail("task_classes", "define at least one task class")
    tasks = {name: _task_class(name, raw, sources) for name, raw in raw_tasks.items()}
    trust = _trust(data["trust"]) if "trust" in data else None
    canonical = canonical_form(sources, tasks, trust)
    return Policy(
        source_classes=sources,
        task_classes=tasks,
        version=content_hash(canonical),
        canonical=canonical,
        source_text=text,
        trust=trust or TrustThresholds(),
    )


def load_policy_file(path: Path) -> Policy:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyInvalid(f"policy file {path} cannot be read: {exc.strerror}", key=None) from exc
    return parse_policy(text, origin=str(path))
