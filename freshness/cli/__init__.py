"""The `freshness` command (SPEC §9): a module per area, each holding its commands; `main` gathers them."""

from __future__ import annotations

import logging

import click

from freshness import __version__
from freshness.cli import (
    audit,
    db,
    evidence,
    jobs,
    keys,
    policy_commands,
    publish,
    retrieve,
    serve,
    snapshots,
    sources,
    status,
    store,
)


@click.group()
@click.version_option(__version__, prog_name="freshness", message="%(prog)s %(version)s")
def main() -> None:
    """freshness: versioned snapshots, freshness policies and an audit trail in front of a vector store."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("freshness").setLevel(logging.INFO)


for command in (serve.serve, serve.scheduler, db.db, keys.keys, sources.sources, publish.publish, publish.verify,
                status.status, jobs.jobs, audit.audit, store.store, policy_commands.policy_group,
                evidence.trust_command, retrieve.retrieve, snapshots.snapshots, snapshots.activate):
    main.add_command(command)
