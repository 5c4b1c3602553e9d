"""thumbnails: which library resized the buffer and the thumbnails (libvips, or the Pillow fallback)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 09:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('thumbnails') as batch:
        batch.add_column(sa.Column('resizer', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('thumbnails') as batch:
        batch.drop_column('resizer')
