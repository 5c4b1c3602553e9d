"""places: distance to the named place and a position confidence

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 09:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('places') as batch:
        batch.add_column(sa.Column('city_distance_km', sa.Double(), nullable=True))
        batch.add_column(sa.Column('gps_confidence', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('places') as batch:
        batch.drop_column('gps_confidence')
        batch.drop_column('city_distance_km')
