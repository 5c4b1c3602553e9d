"""files: an index on (asset_id, status), so that "has a present file" is one index probe per asset

Without it SQLite answers the correlated EXISTS of the gap report from the status index (every
present file, for every asset): 48 s on a 20k-asset catalog instead of a fraction of a second.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 11:40:00
"""
from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_files_asset_status', 'files', ['asset_id', 'status'])


def downgrade() -> None:
    op.drop_index('ix_files_asset_status', table_name='files')
