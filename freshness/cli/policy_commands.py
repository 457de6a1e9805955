"""`freshness policy ...`: the policy in force, its reload, and a dry run of a candidate (SPEC §9, §12)."""

from __future__ import annotations

import click


@click.group("policy")
def policy_group() -> None:
    """The freshness policy: show the one in force, reload it, or try a candidate on recorded traffic."""
