"""staged uploads of snapshots too large for one request body

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 09:40:00.000000

An upload holds its received documents until it is committed as one publish, abandoned, or
expires after an hour idle; nothing else refers to these rows, so dropping them loses no history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import freshness.models.types


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('uploads',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('source_id', sa.String(length=128), nullable=False),
    sa.Column('opened_by', sa.String(length=40), nullable=False),
    sa.Column('version', sa.String(length=256), nullable=True),
    sa.Column('captured_at', freshness.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('valid_until', freshness.models.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_at', freshness.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('touched_at', freshness.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', freshness.models.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('document_count', sa.Integer(), nullable=False),
    sa.Column('byte_count', sa.BigInteger(), nullable=False),
    sa.Column('vector_size', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], name=op.f('fk_uploads_source_id_sources')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_uploads'))
    )
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_uploads_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_uploads_source_id'), ['source_id'], unique=False)

    op.create_table('upload_documents',
    sa.Column('upload_id', sa.String(length=40), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.String(length=512), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['upload_id'], ['uploads.id'], name=op.f('fk_upload_documents_upload_id_uploads')),
    sa.PrimaryKeyConstraint('upload_id', 'position', name=op.f('pk_upload_documents')),
    sa.UniqueConstraint('upload_id', 'document_id', name=op.f('uq_upload_documents_upload_id'))
    )


def downgrade() -> None:
    op.drop_table('upload_documents')
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_uploads_source_id'))
        batch_op.drop_index(batch_op.f('ix_uploads_expires_at'))
    op.drop_table('uploads')
