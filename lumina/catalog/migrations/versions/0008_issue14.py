"""stable ids of duplicate groups and bursts; retired ids

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-01 09:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('duplicate_groups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stable_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_duplicate_groups_stable_id'), ['stable_id'], unique=False)
    with op.batch_alter_table('bursts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('stable_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_bursts_stable_id'), ['stable_id'], unique=False)
    # the ids users saw before this revision stay valid
    op.execute("UPDATE duplicate_groups SET stable_id = id")
    op.execute("UPDATE bursts SET stable_id = id")
    op.create_table('retired_ids',
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('stable_id', sa.Integer(), nullable=False),
    sa.Column('members', sa.JSON(), nullable=False),
    sa.Column('retired_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'stable_id')
    )


def downgrade() -> None:
    op.drop_table('retired_ids')
    with op.batch_alter_table('bursts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bursts_stable_id'))
        batch_op.drop_column('stable_id')
    with op.batch_alter_table('duplicate_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_duplicate_groups_stable_id'))
        batch_op.drop_column('stable_id')
