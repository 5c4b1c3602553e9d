"""issue 18: embeddings, tags, descriptions and embedding pairs

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 09:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('embeddings',
    sa.Column('asset_id', sa.String(length=64), nullable=False),
    sa.Column('model_id', sa.String(length=128), nullable=False),
    sa.Column('dim', sa.Integer(), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.Column('class_scores', sa.JSON(), nullable=False),
    sa.Column('colours', sa.JSON(), nullable=False),
    sa.Column('clip_model_id', sa.String(length=128), nullable=True),
    sa.Column('clip_dim', sa.Integer(), nullable=True),
    sa.Column('clip_vector', sa.LargeBinary(), nullable=True),
    sa.Column('clip_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.asset_id'], ),
    sa.PrimaryKeyConstraint('asset_id')
    )
    op.create_index('ix_embeddings_model_id', 'embeddings', ['model_id'], unique=False)
    op.create_table('asset_tags',
    sa.Column('asset_id', sa.String(length=64), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.asset_id'], ),
    sa.PrimaryKeyConstraint('asset_id')
    )
    op.create_table('descriptions',
    sa.Column('asset_id', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('model_id', sa.String(length=128), nullable=True),
    sa.Column('text_model_id', sa.String(length=128), nullable=True),
    sa.Column('text_dim', sa.Integer(), nullable=True),
    sa.Column('text_vector', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.asset_id'], ),
    sa.PrimaryKeyConstraint('asset_id')
    )
    op.create_table('embedding_pairs',
    sa.Column('asset_a', sa.String(length=64), nullable=False),
    sa.Column('asset_b', sa.String(length=64), nullable=False),
    sa.Column('relation', sa.String(length=16), nullable=False),
    sa.Column('distance', sa.Float(), nullable=False),
    sa.Column('model_id', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('asset_a', 'asset_b', 'relation')
    )
    op.create_index('ix_embedding_pairs_asset_b', 'embedding_pairs', ['asset_b'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_embedding_pairs_asset_b', table_name='embedding_pairs')
    op.drop_table('embedding_pairs')
    op.drop_table('descriptions')
    op.drop_table('asset_tags')
    op.drop_index('ix_embeddings_model_id', table_name='embeddings')
    op.drop_table('embeddings')
