"""Typed settings, read once from `config/freshness.toml` and `FRESHNESS_*` variables.

The environment wins over the file, and keyword overrides win over both. Nothing else in the
package reads `os.environ`: the object built here is passed to whatever needs it.

msgspec converts every value to the type its field declares, with its bounds. A setting written
in a form of its own says so in its type, and that form is read first: `Size` (`32MiB`),
`Seconds` and `Timeout` (a duration such as `7d` or `PT5S`, or a number), `Switch` (`on`/`off`,
`yes`/`no`, ...), `Folders` and `Names` (a list in the file, comma-separated in the environment).
An empty variable counts as unset, so `FRESHNESS_X=` leaves the file's value.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Annotated, Any, get_type_hints

import msgspec

from freshness.errors import ConfigError
from freshness.policy.durations import parse_duration

DEFAULT_CONFIG_FILE = Path("config/freshness.toml")
_SIZE = re.compile(r"^\s*(\d+)\s*([KMG]i?B|B)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}
_NUMBER = re.compile(r"^\s*\d+(\.\d+)?\s*$")
_SWITCH = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def parse_size(value: Any) -> Any:
    """`32MiB`, `10MB`, `512KiB` or a plain byte count, in bytes; a number is left to msgspec."""
    if not isinstance(value, str):
        return value
    match = _SIZE.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a size such as 32MiB, 10MB or 1048576")
    number, unit = match.groups()
    return int(number) * _UNITS[(unit or "b").lower()]


def _duration(raw: Any) -> Any:
    """A duration (`7d`, `PT5S`) in seconds; a number, or a number written as text, is left to msgspec."""
    if isinstance(raw, str):
        return raw.strip() if _NUMBER.match(raw) else parse_duration(raw)
    return raw


def _switch(raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    value = _SWITCH.get(raw.strip().lower())
    if value is None:
        raise ValueError(f"expected on/off, true/false, yes/no or 1/0, got {raw!r}")
    return value


def _items(raw: Any) -> Any:
    """The entries of a list, or of comma-separated text, without blanks."""
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list):
        return items
    return [text for text in (str(item).strip() for item in items) if text]


@dataclass(frozen=True)
class TextForm:
    """How a setting is written when msgspec alone would not read it: applied before the conversion."""

    read: Callable[[Any], Any]


Size = Annotated[int, TextForm(parse_size)]
Seconds = Annotated[int, TextForm(_duration), msgspec.Meta(ge=0)]
Timeout = Annotated[float, TextForm(_duration), msgspec.Meta(gt=0)]
Switch = Annotated[bool, TextForm(_switch)]
Folders = Annotated[tuple[Path, ...], TextForm(_items)]
Names = Annotated[tuple[str, ...], TextForm(_items)]


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
    scheduler: Switch = True
    migrate_on_start: Switch = True
    # One log line per HTTP request; off by default because every retrieval is in the audit log.
    access_log: Switch = False
    max_body: Size = 32 * 2**20
    # The documents of one staged upload, all batches together, as received (FRESHNESS_MAX_UPLOAD); the
    # commit holds them in memory at once, so this bounds what one publish may cost the service.
    max_upload: Size = 512 * 2**20
    max_documents: int = 10_000
    max_text_length: int = 2_000_000
    max_query_length: int = 4_096
    max_chunks_per_document: int = 5_000
    chunk_size: int = 1_000
    chunk_overlap: int = 100
    write_batch: int = 256
    vector_size: int | None = None
    hash_query_text: Switch = False
    audit_signing_key: str | None = None
    purge_retention_seconds: Seconds = 7 * 86_400
    # Scheduled jobs: how often each runs, and how a refresh fetches.
    refresh_check_seconds: Seconds = 5
    sweep_interval_seconds: Seconds = 300
    purge_interval_seconds: Seconds = 3_600
    reconcile_interval_seconds: Seconds = 600
    job_lease_seconds: Seconds = 900
    job_run_retention_seconds: Seconds = 30 * 86_400
    refresh_timeout_seconds: Seconds = 10
    refresh_max_bytes: Size = 10 * 2**20
    refresh_max_redirects: int = 5
    # Seconds a database connect, statement or wait for the write lock may take before the request
    # answers 503 (FRESHNESS_DB_TIMEOUT, a duration such as 5s).
    db_timeout: Timeout = 5.0
    # What a source's uri may make the service read (SPEC §8): folders for file:// (none: refused),
    # and hosts, addresses or ranges that http(s):// may reach although they are internal.
    file_roots: Folders = ()
    fetch_allow: Names = ()
    # The console's signing secret (session cookies, CSRF tokens); when absent, one is generated into the
    # data dir (mode 0600) on first start. Replicas behind one address share it through this setting.
    console_secret: str | None = None
    # Mark the console's cookies Secure even when the request reached the app over plain HTTP (a proxy ends TLS).
    console_secure_cookie: Switch = False

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


def _path(kind: type, raw: Any) -> Any:
    """msgspec has no type for paths; text becomes a Path."""
    if kind is Path and isinstance(raw, str):
        return Path(raw)
    raise NotImplementedError(f"settings have no reading for {kind!r}")


def _convert(name: str, hint: Any, raw: Any) -> Any:
    """One value to its field's type, read in the field's text form first; errors name the setting."""
    try:
        for extra in getattr(hint, "__metadata__", ()):
            if isinstance(extra, TextForm):
                raw = extra.read(raw)
        return msgspec.convert(raw, hint, strict=False, dec_hook=_path)
    except (msgspec.ValidationError, ValueError) as exc:
        raise ConfigError(f"setting {name}: {exc}") from exc


def _file_values(path: Path, known: Mapping[str, Any]) -> dict[str, Any]:
    """The settings in the TOML file; its tables only group them, so `[service] port` is `port`."""
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
    for key in flat:
        if key not in known:
            raise ConfigError(f"{path}: unknown setting {key!r}")
    return flat


def load_settings(
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    **overrides: Any,
) -> Settings:
    """Build settings: defaults, then the TOML file, then the environment, then overrides.

    The file is `config_file`, else the one FRESHNESS_CONFIG names, else config/freshness.toml."""
    env = os.environ if environ is None else environ
    path = config_file or Path(env.get("FRESHNESS_CONFIG", DEFAULT_CONFIG_FILE))
    hints = get_type_hints(Settings, include_extras=True)
    raw: dict[str, Any] = _file_values(path, hints) if path.is_file() else {}
    for field in fields(Settings):
        value = env.get(f"FRESHNESS_{field.name.upper()}")
        if value:
            raw[field.name] = value
    values = {name: _convert(name, hints[name], value) for name, value in raw.items()}
    values.update(overrides)
    settings = Settings(**values)
    if settings.chunk_overlap >= settings.chunk_size:
        raise ConfigError("chunk_overlap must be smaller than chunk_size")
    return settings


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)
