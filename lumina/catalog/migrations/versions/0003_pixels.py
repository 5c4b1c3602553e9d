"""pixels: thumbnails, hashes, quality

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 12:52:18.658293
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('hashes',
    sa.Column('asset_id', sa.String(length=64), nullable=False),
    sa.Column('ahash', sa.BigInteger(), nullable=False),
    sa.Column('dhash', sa.BigInteger(), nullable=False),
    sa.Column('phash', sa.BigInteger(), nullable=False),
    sa.Column('whash', sa.BigInteger(), nullable=False),
    sa.Column('degenerate', sa.Boolean(), nullable=False),
    sa.Column('degenerate_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.asset_id'], ),
    sa.PrimaryKeyConstraint('asset_id')
    )
    op.create_table('quality',
    sa.Column('asset_id', sa.String(length=64), nullable=False),
    sa.Column('score', sa.Double(), nullable=False),
    sa.Column('sharpness', sa.Double(), nullable=False),
    sa.Column('clipped_highlights', sa.Double(), nullable=False),
    sa.Column('clipped_shadows', sa.Double(), nullable=False),
    sa.Column('mean_luminance', sa.Double(), nullable=False),
    sa.Column('noise_sigma', sa.Double(), nullable=False),
    sa.Column('megapixels', sa.Double(), nullable=False),
    sa.Column('jpeg_quality', sa.Integer(), nullable=True),
    sa.Column('components', sa.JSON(), nullable=False),
    sa.Column('fidelity_score', sa.Double(), nullable=False),
    sa.Column('format_rank', sa.Integer(), nullable=False),
    sa.Column('bytes_per_pixel', sa.Double(), nullable=False),
    sa.Column('metadata_richness', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.asset_id'], ),
    sa.PrimaryKeyConstraint('asset_id')
    )
    op.create_table('thumbnails',
    sa.Column('asset_id', sa.String(length=64), nullable=False),
    sa.Column('grid_path', sa.Text(), nullable=False),
    sa.Column('grid_width', sa.Integer(), nullable=False),
    sa.Column('grid_height', sa.Integer(), nullable=False),
    sa.Column('grid_bytes', sa.Integer(), nullable=False),
    sa.Column('preview_path', sa.Text(), nullable=False),
    sa.Column('preview_width', sa.Integer(), nullable=False),
    sa.Column('preview_height', sa.Integer(), nullable=False),
    sa.Column('preview_bytes', sa.Integer(), nullable=False),
    sa.Column('thumbhash', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.asset_id'], ),
    sa.PrimaryKeyConstraint('asset_id')
    )


def downgrade() -> None:
    op.drop_table('thumbnails')
    op.drop_table('quality')
    op.drop_table('hashes')
