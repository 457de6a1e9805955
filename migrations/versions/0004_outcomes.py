"""outcomes of answered retrievals; the source class of each recorded chunk

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 09:25:00.000000

`outcomes` is append-only: one row per retrieval, written by the application that asked, never
updated. `retrieval_chunks.source_class` is the class a chunk was judged under when served, so a
policy dry run reads it from the chunk rows alone; existing rows take it from their record's
hashed content, which is what `verify` holds them to.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import freshness.models.types


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('outcomes',
    sa.Column('request_id', sa.String(length=128), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('edit_seconds', sa.Float(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('key_id', sa.String(length=40), nullable=False),
    sa.Column('task_class', sa.String(length=128), nullable=False),
    sa.Column('served_at', freshness.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', freshness.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['retrievals.request_id'], name=op.f('fk_outcomes_request_id_retrievals')),
    sa.PrimaryKeyConstraint('request_id', name=op.f('pk_outcomes'))
    )
    with op.batch_alter_table('outcomes', schema=None) as batch_op:
        batch_op.create_index('ix_outcomes_task_served', ['task_class', 'served_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_outcomes_served_at'), ['served_at'], unique=False)

    with op.batch_alter_table('retrieval_chunks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_class', sa.String(length=128), nullable=True))
    _backfill_source_classes()


def _backfill_source_classes() -> None:
    """Each existing chunk row takes its source's class from the record it belongs to."""
    bind = op.get_bind()
    retrievals = sa.table('retrievals', sa.column('request_id', sa.String), sa.column('content', sa.JSON))
    chunks = sa.table('retrieval_chunks', sa.column('request_id', sa.String), sa.column('source_id', sa.String),
                      sa.column('source_class', sa.String))
    update = (
        chunks.update()
        .where(chunks.c.request_id == sa.bindparam('rid'), chunks.c.source_id == sa.bindparam('sid'))
        .values(source_class=sa.bindparam('klass'))
    )
    rows = bind.execute(sa.select(retrievals.c.request_id, retrievals.c.content)).all()
    params = [
        {'rid': request_id, 'sid': source_id, 'klass': facts['source_class']}
        for request_id, content in rows
        for source_id, facts in (content or {}).get('sources', {}).items()
    ]
    if params:
        bind.execute(update, params)


def downgrade() -> None:
    with op.batch_alter_table('retrieval_chunks', schema=None) as batch_op:
        batch_op.drop_column('source_class')
    with op.batch_alter_table('outcomes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outcomes_served_at'))
        batch_op.drop_index('ix_outcomes_task_served')
    op.drop_table('outcomes')
