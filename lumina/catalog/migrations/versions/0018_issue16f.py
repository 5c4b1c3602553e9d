"""the gap report's per-asset summary: one narrow row per asset, kept current by triggers

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 14:20:00

``gap_profiles`` holds each distinct combination of what the gap report reads about an asset (a
few dozen in a real library), ``gap_asset_profiles`` points every asset with a present file at its
combination, and ``gap_dirty`` lists the assets whose facts changed since the summary was last
brought up to date (``lumina.analysis.gaps``). Triggers on every table the report reads mark an
asset in ``gap_dirty`` whenever one of its rows is inserted, updated or deleted, so every write path
(stage results, overrides, trash, files going missing, a catalog copy, plain SQL) keeps the summary
correct without knowing about it. On PostgreSQL the triggers are per statement with transition
tables (one INSERT ... SELECT DISTINCT per statement, not one per row); a marked row is touched
(``ON CONFLICT DO UPDATE``), which locks it until the writer commits, so a report that takes the
marks waits for that writer and then reads its rows. Files count only for changes of their asset,
status, path or sidecar (a rescan's ``last_seen_scan`` update marks nothing). The existing assets
are all marked here: the first report after this migration builds the summary. An index on
``stage_records (status, stage)`` lets the report read the failed records alone; ``stage_records
(stage, finished_at)`` and ``files (first_seen_at)`` answer the catalog-wide stages' staleness check
(the newest record of a stage, the newest file) from the last index entry.
"""
from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

# every table the gap report's per-asset profile reads, keyed by asset_id
WATCHED = ('assets', 'files', 'stage_records', 'metadata', 'capture_dates', 'places', 'user_overrides',
           'thumbnails', 'hashes', 'quality', 'embeddings', 'asset_tags', 'descriptions')
FILE_COLUMNS = ('asset_id', 'status', 'path_bytes', 'sidecar_signature')  # what the profile reads of a file

PG_MARK = """INSERT INTO gap_dirty (asset_id) SELECT DISTINCT asset_id FROM ({rows}) AS changed
    WHERE asset_id IS NOT NULL ORDER BY asset_id
    ON CONFLICT (asset_id) DO UPDATE SET marks = gap_dirty.marks + 1"""
PG_FUNCTIONS = {
    'gap_mark_new': 'SELECT asset_id FROM new_rows',
    'gap_mark_old': 'SELECT asset_id FROM old_rows',
    'gap_mark_both': 'SELECT asset_id FROM new_rows UNION SELECT asset_id FROM old_rows',
    'gap_mark_files': ('SELECT n.asset_id FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE '
                       f'({", ".join("n." + c for c in FILE_COLUMNS)}) IS DISTINCT FROM '
                       f'({", ".join("o." + c for c in FILE_COLUMNS)}) '
                       'UNION SELECT o.asset_id FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE '
                       f'({", ".join("n." + c for c in FILE_COLUMNS)}) IS DISTINCT FROM '
                       f'({", ".join("o." + c for c in FILE_COLUMNS)})'),
}


def upgrade() -> None:
    op.create_table('gap_profiles',
                    sa.Column('profile_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
                    sa.Column('profile_key', sa.String(length=64), nullable=False),
                    sa.Column('profile', sa.Text(), nullable=False),
                    sa.PrimaryKeyConstraint('profile_id'),
                    sa.UniqueConstraint('profile_key'))
    op.create_table('gap_asset_profiles',
                    sa.Column('asset_id', sa.String(length=64), nullable=False),
                    sa.Column('profile_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
                    sa.PrimaryKeyConstraint('asset_id'))
    op.create_index('ix_gap_asset_profiles_profile_id', 'gap_asset_profiles', ['profile_id'])
    op.create_table('gap_dirty',
                    sa.Column('asset_id', sa.String(length=64), nullable=False),
                    sa.Column('marks', sa.Integer(), server_default='0', nullable=False),
                    sa.PrimaryKeyConstraint('asset_id'))
    if op.get_bind().dialect.name == 'postgresql':
        for name, rows in PG_FUNCTIONS.items():
            op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                       f"{PG_MARK.format(rows=rows)}; RETURN NULL; END $$")
        for table in WATCHED:
            for event, function, refs in (('INSERT', 'gap_mark_new', 'NEW TABLE AS new_rows'),
                                          ('DELETE', 'gap_mark_old', 'OLD TABLE AS old_rows'),
                                          ('UPDATE', 'gap_mark_files' if table == 'files' else 'gap_mark_both',
                                           'NEW TABLE AS new_rows OLD TABLE AS old_rows')):
                op.execute(f"CREATE TRIGGER gap_{table}_{event.lower()} AFTER {event} ON {table} "
                           f"REFERENCING {refs} FOR EACH STATEMENT EXECUTE FUNCTION {function}()")
    else:
        # not INSERT OR IGNORE: an outer statement's conflict clause (an upsert's) overrides a trigger's
        mark = ("INSERT INTO gap_dirty (asset_id) SELECT {row}.asset_id WHERE {row}.asset_id IS NOT NULL "
                "AND NOT EXISTS (SELECT 1 FROM gap_dirty WHERE asset_id = {row}.asset_id);")
        for table in WATCHED:
            columns = f" OF {', '.join(FILE_COLUMNS)}" if table == 'files' else ''
            for event, body in (('INSERT', mark.format(row='NEW')), ('DELETE', mark.format(row='OLD')),
                                ('UPDATE', mark.format(row='NEW') + ' ' + mark.format(row='OLD'))):
                op.execute(f"CREATE TRIGGER gap_{table}_{event.lower()} AFTER {event}{columns if event == 'UPDATE' else ''} "
                           f"ON {table} FOR EACH ROW BEGIN {body} END")
    op.execute("INSERT INTO gap_dirty (asset_id) SELECT asset_id FROM assets")
    # the report's failure counts read the failed records only (before: every record, 2.5 s at 100k)
    op.create_index('ix_stage_records_status_stage', 'stage_records', ['status', 'stage'])
    # the catalog-wide stages' staleness: the newest record of a stage, the newest file
    op.create_index('ix_stage_records_stage_finished', 'stage_records', ['stage', 'finished_at'])
    op.create_index('ix_files_first_seen_at', 'files', ['first_seen_at'])


def downgrade() -> None:
    op.drop_index('ix_files_first_seen_at', table_name='files')
    op.drop_index('ix_stage_records_stage_finished', table_name='stage_records')
    op.drop_index('ix_stage_records_status_stage', table_name='stage_records')
    for table in WATCHED:
        for event in ('insert', 'delete', 'update'):
            op.execute(f"DROP TRIGGER gap_{table}_{event}" + (f" ON {table}" if op.get_bind().dialect.name == 'postgresql'
                                                             else ''))
    if op.get_bind().dialect.name == 'postgresql':
        for name in PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION {name}()")
    op.drop_table('gap_dirty')
    op.drop_index('ix_gap_asset_profiles_profile_id', table_name='gap_asset_profiles')
    op.drop_table('gap_asset_profiles')
    op.drop_table('gap_profiles')
