"""issue 20: trash entries, sidecar writes, organise plans and their journal

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 09:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('trash_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('asset_id', sa.String(length=64), nullable=True),
    sa.Column('original_path_bytes', sa.LargeBinary(), nullable=False),
    sa.Column('original_path', sa.Text(), nullable=False),
    sa.Column('trash_path_bytes', sa.LargeBinary(), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('mtime_ns', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('trashed_at', sa.DateTime(), nullable=False),
    sa.Column('restored_at', sa.DateTime(), nullable=True),
    sa.Column('emptied_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('trash_path_bytes')
    )
    op.create_index('ix_trash_entries_asset_id', 'trash_entries', ['asset_id'], unique=False)
    op.create_index('ix_trash_entries_status', 'trash_entries', ['status'], unique=False)
    op.create_table('sidecar_writes',
    sa.Column('path_bytes', sa.LargeBinary(), nullable=False),
    sa.Column('asset_id', sa.String(length=64), nullable=False),
    sa.Column('values', sa.JSON(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('written_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('path_bytes')
    )
    op.create_index('ix_sidecar_writes_asset_id', 'sidecar_writes', ['asset_id'], unique=False)
    op.create_table('organise_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('target_bytes', sa.LargeBinary(), nullable=False),
    sa.Column('target', sa.Text(), nullable=False),
    sa.Column('layout', sa.Text(), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('rejected', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('totals', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_organise_plans_status', 'organise_plans', ['status'], unique=False)
    op.create_table('organise_ops',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('file_id', sa.Integer(), nullable=True),
    sa.Column('asset_id', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('action', sa.String(length=8), nullable=False),
    sa.Column('src_bytes', sa.LargeBinary(), nullable=False),
    sa.Column('dst_bytes', sa.LargeBinary(), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('mtime_ns', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('trash_entry_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['plan_id'], ['organise_plans.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_organise_ops_plan_id', 'organise_ops', ['plan_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_organise_ops_plan_id', table_name='organise_ops')
    op.drop_table('organise_ops')
    op.drop_index('ix_organise_plans_status', table_name='organise_plans')
    op.drop_table('organise_plans')
    op.drop_index('ix_sidecar_writes_asset_id', table_name='sidecar_writes')
    op.drop_table('sidecar_writes')
    op.drop_index('ix_trash_entries_status', table_name='trash_entries')
    op.drop_index('ix_trash_entries_asset_id', table_name='trash_entries')
    op.drop_table('trash_entries')
