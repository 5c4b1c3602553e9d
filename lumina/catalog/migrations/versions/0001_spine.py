"""spine: sources, scans, assets, files, stage records, metadata

Revision ID: 0001
Revises: 
Create Date: 2026-11-29 12:26:19.437908
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('assets',
    sa.Column('asset_id', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('media_kind', sa.String(length=8), nullable=False),
    sa.Column('file_type', sa.String(length=16), nullable=False),
    sa.Column('detected_by', sa.String(length=12), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('asset_id')
    )
    op.create_table('scans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('roots', sa.JSON(), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('sources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('path_bytes', sa.LargeBinary(), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('added_at', sa.DateTime(), nullable=False),
    sa.Column('last_scan_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('path_bytes')
    )
    op.create_table('files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('path_bytes', sa.LargeBinary(), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('asset_id', sa.String(length=64), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=True),
    sa.Column('mtime_ns', sa.BigInteger(), nullable=True),
    sa.Column('inode', sa.BigInteger(), nullable=True),
    sa.Column('device', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('warnings', sa.JSON(), nullable=False),
    sa.Column('sidecar_path_bytes', sa.LargeBinary(), nullable=True),
    sa.Column('sidecar_signature', sa.String(length=64), nullable=True),
    sa.Column('first_seen_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_scan', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.asset_id'], ),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('path_bytes')
    )
    with op.batch_alter_table('files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_files_asset_id'), ['asset_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_files_status'), ['status'], unique=False)

    op.create_table('metadata',
    sa.Column('asset_id', sa.String(length=64), nullable=False),
    sa.Column('camera_make', sa.Text(), nullable=True),
    sa.Column('camera_model', sa.Text(), nullable=True),
    sa.Column('camera_serial', sa.Text(), nullable=True),
    sa.Column('lens', sa.Text(), nullable=True),
    sa.Column('focal_length_mm', sa.Double(), nullable=True),
    sa.Column('f_number', sa.Double(), nullable=True),
    sa.Column('exposure_time_s', sa.Double(), nullable=True),
    sa.Column('iso', sa.Integer(), nullable=True),
    sa.Column('orientation', sa.Integer(), nullable=True),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('mime_type', sa.Text(), nullable=True),
    sa.Column('gps_latitude', sa.Double(), nullable=True),
    sa.Column('gps_longitude', sa.Double(), nullable=True),
    sa.Column('gps_altitude_m', sa.Double(), nullable=True),
    sa.Column('burst_uuid', sa.Text(), nullable=True),
    sa.Column('burst_sequence', sa.Text(), nullable=True),
    sa.Column('image_unique_id', sa.Text(), nullable=True),
    sa.Column('rating', sa.Integer(), nullable=True),
    sa.Column('title', sa.Text(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('keywords', sa.JSON(), nullable=False),
    sa.Column('flags', sa.JSON(), nullable=False),
    sa.Column('sidecar_path', sa.Text(), nullable=True),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('sidecar_tags', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.asset_id'], ),
    sa.PrimaryKeyConstraint('asset_id')
    )
    with op.batch_alter_table('metadata', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_metadata_camera_make'), ['camera_make'], unique=False)

    op.create_table('stage_records',
    sa.Column('asset_id', sa.String(length=64), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('params_hash', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('duration_ms', sa.Float(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.asset_id'], ),
    sa.PrimaryKeyConstraint('asset_id', 'stage')
    )
    with op.batch_alter_table('stage_records', schema=None) as batch_op:
        batch_op.create_index('ix_stage_records_stage_status', ['stage', 'status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('stage_records', schema=None) as batch_op:
        batch_op.drop_index('ix_stage_records_stage_status')

    op.drop_table('stage_records')
    with op.batch_alter_table('metadata', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_metadata_camera_make'))

    op.drop_table('metadata')
    with op.batch_alter_table('files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_files_status'))
        batch_op.drop_index(batch_op.f('ix_files_asset_id'))

    op.drop_table('files')
    op.drop_table('sources')
    op.drop_table('scans')
    op.drop_table('assets')
