"""bursts: generations, bursts, frames

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 15:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('burst_generations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('rule_version', sa.Integer(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('stats', sa.JSON(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('bursts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('generation_id', sa.Integer(), nullable=False),
    sa.Column('camera', sa.Text(), nullable=False),
    sa.Column('start', sa.String(length=40), nullable=True),
    sa.Column('end', sa.String(length=40), nullable=True),
    sa.Column('signals', sa.JSON(), nullable=False),
    sa.Column('best_asset_id', sa.String(length=64), nullable=False),
    sa.Column('best_reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['generation_id'], ['burst_generations.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_bursts_generation_id', 'bursts', ['generation_id'], unique=False)
    op.create_table('burst_frames',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('burst_id', sa.Integer(), nullable=False),
    sa.Column('asset_id', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('capture_time', sa.String(length=40), nullable=True),
    sa.Column('quality', sa.JSON(), nullable=False),
    sa.Column('link', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['burst_id'], ['bursts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_burst_frames_burst_id', 'burst_frames', ['burst_id'], unique=False)
    op.create_index('ix_burst_frames_asset_id', 'burst_frames', ['asset_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_burst_frames_asset_id', table_name='burst_frames')
    op.drop_index('ix_burst_frames_burst_id', table_name='burst_frames')
    op.drop_table('burst_frames')
    op.drop_index('ix_bursts_generation_id', table_name='bursts')
    op.drop_table('bursts')
    op.drop_table('burst_generations')
