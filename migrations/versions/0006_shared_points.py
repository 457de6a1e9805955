"""points shared by the snapshots of a source that hold the same chunk; documents as sent

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 12:55:00.000000

`chunks.point_id` names the store point that holds a chunk's vectors. A new snapshot's unchanged
documents keep their points, so several snapshots' chunk rows may name one point; until now a point
belonged to one chunk row, whose id it was, so existing rows take their own chunk id. Such a copied
row leaves `text` empty: the text is stored once, in the row that first held the point.
`documents.sent_hash` is a fingerprint of a document exactly as its publisher sent it: the next
publish recognises it unchanged without cutting, checking or hashing it again. Existing rows have
none, so their documents are prepared again once. `sources.active_snapshot_id` gets an index: every
retrieval joins the active snapshots through it.

After a downgrade, run `freshness jobs run reconcile` with the older version: a snapshot's kept
documents are served by points its own chunk rows do not name, and reconciliation indexes them again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('chunks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('point_id', sa.String(length=40), nullable=True))
    op.execute(sa.text('UPDATE chunks SET point_id = chunk_id'))
    with op.batch_alter_table('chunks', schema=None) as batch_op:
        batch_op.alter_column('point_id', existing_type=sa.String(length=40), nullable=False)
        batch_op.alter_column('text', existing_type=sa.Text(), nullable=True)
        batch_op.create_index('ix_chunks_point', ['point_id', 'snapshot_id'], unique=False)
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sent_hash', sa.String(length=80), nullable=True))
    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sources_active_snapshot_id'), ['active_snapshot_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sources_active_snapshot_id'))
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_column('sent_hash')
    # Copied rows take their text back from the row that holds it.
    op.execute(sa.text(
        'UPDATE chunks SET text = (SELECT holder.text FROM chunks AS holder WHERE holder.point_id = chunks.point_id'
        ' AND holder.text IS NOT NULL LIMIT 1) WHERE text IS NULL'))
    with op.batch_alter_table('chunks', schema=None) as batch_op:
        batch_op.drop_index('ix_chunks_point')
        batch_op.alter_column('text', existing_type=sa.Text(), nullable=False)
        batch_op.drop_column('point_id')
