"""The client's calls grouped by area, as SPEC §10 names them: `client.sources.register(...)`,
`client.snapshots.history(...)`, `client.audit.search(...)`, `client.policy.reload()`.

Each area holds the client's own bound methods, so `client.sources.get` is `client.get_source`: one
implementation, two spellings, the same on the sync and the async client (where each call is awaited).
`client.snapshots(source_id)` still iterates a source's history, as the flat method did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from freshness.client.aio import AsyncFreshnessClient
    from freshness.client.sync import FreshnessClient


class SourceCalls:
    """register, get, list (every page), update, retire."""

    def __init__(self, client: FreshnessClient | AsyncFreshnessClient) -> None:
        self.register = client.register_source
        self.get = client.get_source
        self.list = client.list_sources
        self.update = client.update_source
        self.retire = client.retire_source


class SnapshotCalls:
    """history (newest first, every page; also by calling the area), get, activate."""

    def __init__(self, client: FreshnessClient | AsyncFreshnessClient, history: Any) -> None:
        self.history = history
        self.get = client.get_snapshot
        self.activate = client.activate

    def __call__(self, source_id: str, *, page_size: int = 100) -> Any:
        return self.history(source_id, page_size=page_size)


class AuditCalls:
    """get, search (every page), export, verify, checkpoint, public_key, replay."""

    def __init__(self, client: FreshnessClient | AsyncFreshnessClient) -> None:
        self.get = client.get_audit_record
        self.search = client.search_audit
        self.export = client.export_audit
        self.verify = client.verify_audit
        self.checkpoint = client.checkpoint
        self.public_key = client.public_key
        self.replay = client.replay


class PolicyCalls:
    """get, reload, dry_run."""

    def __init__(self, client: FreshnessClient | AsyncFreshnessClient) -> None:
        self.get = client.get_policy
        self.reload = client.reload_policy
        self.dry_run = client.policy_dry_run
