"""chunk indexes that a re-publish adds to at their ends

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 16:30:00.000000

A re-publish copies the chunk rows of its kept documents. Two indexes gave each copy an entry on a page
of its own: `ix_chunks_point` (point, snapshot), whose points are old, and `ix_chunks_source_hash`, whose
content hashes are random. The first becomes `ix_chunks_snapshot_point` (snapshot, point): a new snapshot's
entries go at its end. The second keeps only the rows that hold a text (the first row of each point),
which is all that the lookup of reusable vectors reads. A copy's text is read from the row whose chunk id
is its point id, through the primary key.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_HOLDS_TEXT = sa.text('text IS NOT NULL')


def upgrade() -> None:
    with op.batch_alter_table('chunks', schema=None) as batch_op:
        batch_op.drop_index('ix_chunks_point')
        batch_op.drop_index('ix_chunks_source_hash')
        batch_op.create_index('ix_chunks_snapshot_point', ['snapshot_id', 'point_id'], unique=False)
        batch_op.create_index('ix_chunks_source_hash', ['source_id', 'content_hash'], unique=False,
                              sqlite_where=_HOLDS_TEXT, postgresql_where=_HOLDS_TEXT)


def downgrade() -> None:
    with op.batch_alter_table('chunks', schema=None) as batch_op:
        batch_op.drop_index('ix_chunks_source_hash')
        batch_op.drop_index('ix_chunks_snapshot_point')
        batch_op.create_index('ix_chunks_source_hash', ['source_id', 'content_hash'], unique=False)
        batch_op.create_index('ix_chunks_point', ['point_id', 'snapshot_id'], unique=False)
