"""duplicates: signatures, generations, groups, members, feedback

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 13:35:03.160795
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('catalog_state',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('duplicate_feedback',
    sa.Column('asset_a', sa.String(length=64), nullable=False),
    sa.Column('asset_b', sa.String(length=64), nullable=False),
    sa.Column('verdict', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('asset_a', 'asset_b')
    )
    op.create_table('duplicate_generations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('rule_version', sa.Integer(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('stats', sa.JSON(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('duplicate_groups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('generation_id', sa.Integer(), nullable=False),
    sa.Column('group_class', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('keeper_asset_id', sa.String(length=64), nullable=False),
    sa.Column('keeper_path', sa.Text(), nullable=True),
    sa.Column('keeper_reason', sa.Text(), nullable=False),
    sa.Column('resolved_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['generation_id'], ['duplicate_generations.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('duplicate_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_duplicate_groups_generation_id'), ['generation_id'], unique=False)

    op.create_table('duplicate_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('asset_id', sa.String(length=64), nullable=False),
    sa.Column('path', sa.Text(), nullable=True),
    sa.Column('member_class', sa.String(length=16), nullable=False),
    sa.Column('distances', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['duplicate_groups.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('duplicate_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_duplicate_members_asset_id'), ['asset_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_duplicate_members_group_id'), ['group_id'], unique=False)

    with op.batch_alter_table('hashes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('signature', sa.LargeBinary(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('hashes', schema=None) as batch_op:
        batch_op.drop_column('signature')

    with op.batch_alter_table('duplicate_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_duplicate_members_group_id'))
        batch_op.drop_index(batch_op.f('ix_duplicate_members_asset_id'))

    op.drop_table('duplicate_members')
    with op.batch_alter_table('duplicate_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_duplicate_groups_generation_id'))

    op.drop_table('duplicate_groups')
    op.drop_table('duplicate_generations')
    op.drop_table('duplicate_feedback')
    op.drop_table('catalog_state')
