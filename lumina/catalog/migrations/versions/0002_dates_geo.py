"""dates and geo: capture_dates, places, user_overrides

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 12:29:16.345102
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('capture_dates',
    sa.Column('asset_id', sa.String(length=64), nullable=False),
    sa.Column('capture_time', sa.String(length=40), nullable=True),
    sa.Column('capture_time_utc', sa.String(length=40), nullable=True),
    sa.Column('capture_time_source', sa.String(length=64), nullable=True),
    sa.Column('capture_time_confidence', sa.Integer(), nullable=True),
    sa.Column('utc_offset_minutes', sa.Integer(), nullable=True),
    sa.Column('utc_offset_source', sa.String(length=64), nullable=True),
    sa.Column('flags', sa.JSON(), nullable=False),
    sa.Column('candidates', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.asset_id'], ),
    sa.PrimaryKeyConstraint('asset_id')
    )
    with op.batch_alter_table('capture_dates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_capture_dates_capture_time_utc'), ['capture_time_utc'], unique=False)

    op.create_table('places',
    sa.Column('asset_id', sa.String(length=64), nullable=False),
    sa.Column('gps_latitude', sa.Double(), nullable=True),
    sa.Column('gps_longitude', sa.Double(), nullable=True),
    sa.Column('gps_altitude_m', sa.Double(), nullable=True),
    sa.Column('gps_source', sa.String(length=32), nullable=True),
    sa.Column('geohash', sa.String(length=12), nullable=True),
    sa.Column('country_code', sa.String(length=2), nullable=True),
    sa.Column('region', sa.Text(), nullable=True),
    sa.Column('city', sa.Text(), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=True),
    sa.Column('flags', sa.JSON(), nullable=False),
    sa.Column('rejected', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.asset_id'], ),
    sa.PrimaryKeyConstraint('asset_id')
    )
    with op.batch_alter_table('places', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_places_country_code'), ['country_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_places_geohash'), ['geohash'], unique=False)

    op.create_table('user_overrides',
    sa.Column('asset_id', sa.String(length=64), nullable=False),
    sa.Column('field', sa.String(length=32), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.Column('set_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.asset_id'], ),
    sa.PrimaryKeyConstraint('asset_id', 'field')
    )


def downgrade() -> None:
    op.drop_table('user_overrides')
    with op.batch_alter_table('places', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_places_geohash'))
        batch_op.drop_index(batch_op.f('ix_places_country_code'))

    op.drop_table('places')
    with op.batch_alter_table('capture_dates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_capture_dates_capture_time_utc'))

    op.drop_table('capture_dates')
