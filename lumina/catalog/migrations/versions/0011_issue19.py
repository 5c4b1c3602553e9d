"""web UI: capture-time order index for the grid's keyset paging

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-01 09:30:00
"""
from alembic import op


revision = '0011'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_capture_dates_time_asset', 'capture_dates', ['capture_time', 'asset_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_capture_dates_time_asset', table_name='capture_dates')
