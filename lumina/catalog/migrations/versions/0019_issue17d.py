"""unchanged rescans: a change log written by triggers, and the planner's marks

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 14:20:00

``change_log`` gets a row (from database triggers, whatever writes) whenever a row of a table the
planner or a catalog-wide stage's staleness check reads is inserted, deleted or updated:
``files`` (every column but ``last_seen_scan``, which a rescan writes), ``assets``,
``stage_records``, ``user_overrides``, ``catalog_state``, ``duplicate_generations``,
``burst_generations`` and ``duplicate_feedback``. ``plan_marks`` holds, per list of stages, the
change log's row count and last id when a run of those stages found nothing due
(``lumina.pipeline.watermark``). SQLite has only row triggers (one log row per changed row);
PostgreSQL gets one statement trigger per table (one log row per writing statement, inserted, not
updated, so that concurrent writers never wait on each other for it).
"""
from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')  # as models.RowId

# table -> the columns whose update is a change (None: every column)
TRACKED = {
    'files': ('source_id', 'path_bytes', 'path', 'asset_id', 'size_bytes', 'mtime_ns', 'inode', 'device', 'status',
              'error', 'warnings', 'sidecar_path_bytes', 'sidecar_signature', 'first_seen_at'),
    'assets': None, 'stage_records': None, 'user_overrides': None, 'catalog_state': None,
    'duplicate_generations': None, 'burst_generations': None, 'duplicate_feedback': None,
}


def upgrade() -> None:
    op.create_table('change_log',
    sa.Column('id', ROW_ID, nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sqlite_autoincrement=True,  # ids never reused, also after the last rows are deleted
    )
    op.create_table('plan_marks',
    sa.Column('stages', sa.String(length=400), nullable=False),
    sa.Column('changes', sa.BigInteger(), nullable=False),
    sa.Column('last_change_id', sa.BigInteger(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('stages')
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("CREATE FUNCTION lumina_log_change() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN INSERT INTO change_log DEFAULT VALUES; RETURN NULL; END $$")
        for table, columns in TRACKED.items():
            of = f" OF {', '.join(columns)}" if columns else ""
            op.execute(f"CREATE TRIGGER {table}_changed AFTER INSERT OR DELETE OR UPDATE{of} ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION lumina_log_change()")
        return
    for table, columns in TRACKED.items():
        of = f" OF {', '.join(columns)}" if columns else ""
        for event in ('INSERT', 'DELETE', f'UPDATE{of}'):
            name = f"{table}_{event.split()[0].lower()}_changed"
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} "
                       "BEGIN INSERT INTO change_log (id) VALUES (NULL); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in TRACKED:
            op.execute(f"DROP TRIGGER {table}_changed ON {table}")
        op.execute("DROP FUNCTION lumina_log_change()")
    else:
        for table in TRACKED:
            for event in ('insert', 'delete', 'update'):
                op.execute(f"DROP TRIGGER {table}_{event}_changed")
    op.drop_table('plan_marks')
    op.drop_table('change_log')
