"""Typed settings, read once from `config/freshness.toml` and `FRESHNESS_*` variables.

The environment wins over the file. Nothing else in the package reads `os.environ`:
the object built here is passed to whatever needs it.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from freshness.errors import ConfigError
from freshness.policy.durations import parse_duration

DEFAULT_CONFIG_FILE = Path("config/freshness.toml")
_SIZE = re.compile(r"^\s*(\d+)\s*([KMG]i?B|B)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_size(value: str | int) -> int:
    """`32MiB`, `10MB`, `512KiB` or a plain byte count."""
    if isinstance(value, int):
        return value
    match = _SIZE.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a size such as 32MiB, 10MB or 1048576")
    number, unit = match.groups()
    return int(number) * _UNITS[(unit or "b").lower()]


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./var")
    database_url: str = ""
    vector_store: str = "edge"
    qdrant_api_key: str | None = None
    collection: str = "freshness_chunks"
    policy_file: Path = Path("config/policy.toml")
    host: str = "127.0.0.1"
    port: int = 8000
    admin_key: str | None = None
    embedder: str = "none"
    embedder_api_key: str | None = None
    embedder_model: str = "text-embedding-3-small"
    scheduler: bool = True
    migrate_on_start: bool = True
    # One log line per HTTP request; off by default because every retrieval is in the audit log.
    access_log: bool = False
    max_body: int = 32 * 2**20
    max_documents: int = 10_000
    max_text_length: int = 2_000_000
    max_query_length: int = 4_096
    max_chunks_per_document: int = 5_000
    chunk_size: int = 1_000
    chunk_overlap: int = 100
    write_batch: int = 256
    vector_size: int | None = None
    hash_query_text: bool = False
    audit_signing_key: str | None = None
    purge_retention_seconds: int = 7 * 86_400
    # Scheduled jobs: how often each runs, and how a refresh fetches.
    refresh_check_seconds: int = 5
    sweep_interval_seconds: int = 300
    purge_interval_seconds: int = 3_600
    reconcile_interval_seconds: int = 600
    job_lease_seconds: int = 900
    job_run_retention_seconds: int = 30 * 86_400
    refresh_timeout_seconds: int = 10
    refresh_max_bytes: int = 10 * 2**20
    refresh_max_redirects: int = 5
    # Seconds a database connect, statement or wait for the write lock may take before the request
    # answers 503 (FRESHNESS_DB_TIMEOUT, a duration such as 5s).
    db_timeout: float = 5.0
    # What a source's uri may make the service read (SPEC §8): folders for file:// (none: refused),
    # and hosts, addresses or ranges that http(s):// may reach although they are internal.
    file_roots: tuple[Path, ...] = ()
    fetch_allow: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'freshness.db').resolve()}"

    @property
    def store_path(self) -> Path:
        return self.data_dir / "store"

    @property
    def uses_embedded_store(self) -> bool:
        return self.vector_store == "edge"


_BOOL_TRUE = {"1", "true", "yes", "on"}
_BOOL_FALSE = {"0", "false", "no", "off"}


def _timeout(raw: Any) -> float:
    """A duration (`5s`, `PT5S`) or a number of seconds, fractions allowed (`0.5`); more than zero."""
    if isinstance(raw, str) and not re.fullmatch(r"\s*\d+(\.\d+)?\s*", raw):
        return float(parse_duration(raw))
    seconds = float(raw)
    if not seconds > 0:
        raise ValueError(f"{raw!r} must be longer than zero")
    return seconds


def _coerce(name: str, kind: Any, raw: Any) -> Any:
    text_kind = str(kind)
    try:
        if raw is None:
            return None
        if name in ("max_body", "refresh_max_bytes"):
            return parse_size(raw)
        if name == "db_timeout":
            return _timeout(raw)
        if "tuple" in text_kind:
            items = raw.split(",") if isinstance(raw, str) else list(raw)
            cleaned = tuple(str(item).strip() for item in items if str(item).strip())
            return tuple(Path(item) for item in cleaned) if "Path" in text_kind else cleaned
        if name.endswith("_seconds") and isinstance(raw, str) and not raw.strip().isdigit():
            return parse_duration(raw)
        if "bool" in text_kind:
            if isinstance(raw, bool):
                return raw
            lowered = str(raw).strip().lower()
            if lowered in _BOOL_TRUE:
                return True
            if lowered in _BOOL_FALSE:
                return False
            raise ValueError(f"expected on/off, true/false, got {raw!r}")
        if "Path" in text_kind:
            return Path(str(raw))
        if "int" in text_kind:
            if raw == "":
                return None
            return int(raw)
        return str(raw)
    except ValueError as exc:
        raise ConfigError(f"setting {name}: {exc}") from exc


def load_settings(
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    **overrides: Any,
) -> Settings:
    """Build settings: defaults, then the TOML file, then the environment, then overrides."""
    env = os.environ if environ is None else environ
    path = config_file or Path(env.get("FRESHNESS_CONFIG", DEFAULT_CONFIG_FILE))
    values: dict[str, Any] = {}
    known = {f.name: f.type for f in fields(Settings) if f.name != "extra"}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        flat: dict[str, Any] = {}
        for key, value in data.items():
            if isinstance(value, dict):
                flat.update(value)
            else:
                flat[key] = value
        for key, value in flat.items():
            if key not in known:
                raise ConfigError(f"{path}: unknown setting {key!r}")
            values[key] = _coerce(key, known[key], value)
    for name, kind in known.items():
        env_name = f"FRESHNESS_{name.upper()}"
        if env_name in env:
            values[name] = _coerce(name, kind, env[env_name])
    if "FRESHNESS_SCHEDULER" in env:
        values["scheduler"] = _coerce("scheduler", "bool", env["FRESHNESS_SCHEDULER"])
    values.update(overrides)
    settings = Settings(**values)
    if settings.chunk_overlap >= settings.chunk_size:
        raise ConfigError("chunk_overlap must be smaller than chunk_size")
    return settings


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)
