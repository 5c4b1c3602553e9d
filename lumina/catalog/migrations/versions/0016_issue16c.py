"""several writers: job leases and claimable work batches

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 11:50:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


ROW_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')  # as models.RowId
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')  # as models.JSONDoc


def upgrade() -> None:
    with op.batch_alter_table('jobs') as batch:
        batch.add_column(sa.Column('lease_expires_at', sa.DateTime(), nullable=True))
    op.create_table('work_batches',
    sa.Column('id', ROW_ID, nullable=False),
    sa.Column('job_id', ROW_ID, nullable=False),
    sa.Column('group', sa.String(length=200), nullable=False),
    sa.Column('items', JSON_DOC, nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('lease_owner', sa.String(length=128), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('done_by', sa.String(length=128), nullable=True),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_work_batches_job_status', 'work_batches', ['job_id', 'status'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_work_batches_job_status', table_name='work_batches')
    op.drop_table('work_batches')
    with op.batch_alter_table('jobs') as batch:
        batch.drop_column('lease_expires_at')
