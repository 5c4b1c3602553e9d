"""capture times as timestamps: the local wall-clock period of each capture time, for date ranges

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 12:40:00

Adds ``capture_dates.capture_start_local``/``capture_end_local`` (naive timestamps, end exclusive;
``lumina.stages.dates.capture_period``) and fills them for the rows already there, parsing the ISO
strings in Python so that the same migration runs on SQLite and PostgreSQL. Plain ``ADD COLUMN``s:
both databases add a nullable column in place (no batch copy of the table).
"""
from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

BATCH_ROWS = 5000  # rows read and updated per round: bounded memory on a 1M-asset catalog


def upgrade() -> None:
    from lumina.stages.dates import capture_period

    op.add_column('capture_dates', sa.Column('capture_start_local', sa.DateTime(), nullable=True))
    op.add_column('capture_dates', sa.Column('capture_end_local', sa.DateTime(), nullable=True))
    dates = sa.table('capture_dates', sa.column('asset_id', sa.String()), sa.column('capture_time', sa.String()),
                     sa.column('flags', sa.JSON()), sa.column('capture_start_local', sa.DateTime()),
                     sa.column('capture_end_local', sa.DateTime()))
    conn = op.get_bind()
    update = (sa.update(dates).where(dates.c.asset_id == sa.bindparam('key'))
              .values(capture_start_local=sa.bindparam('start'), capture_end_local=sa.bindparam('end')))
    after = ''
    while True:  # keyset rounds by asset_id: each round reads rows not filled yet
        rows = conn.execute(sa.select(dates.c.asset_id, dates.c.capture_time, dates.c.flags)
                            .where(dates.c.asset_id > after, dates.c.capture_time.is_not(None))
                            .order_by(dates.c.asset_id).limit(BATCH_ROWS)).all()
        if not rows:
            break
        values = []
        for asset_id, capture_time, flags in rows:
            start, end = capture_period(capture_time, flags)
            if start is not None:
                values.append({'key': asset_id, 'start': start, 'end': end})
        if values:
            conn.execute(update, values)
        after = rows[-1].asset_id
    op.create_index('ix_capture_dates_start_asset', 'capture_dates',
                    ['capture_start_local', 'asset_id', 'capture_end_local'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_capture_dates_start_asset', table_name='capture_dates')
    with op.batch_alter_table('capture_dates') as batch:
        batch.drop_column('capture_end_local')
        batch.drop_column('capture_start_local')
