"""issue 16: PostgreSQL as a first-class catalog: JSONB documents and 64-bit row ids

On SQLite nothing changes (JSON is text there and INTEGER PRIMARY KEY is already 64-bit). On
PostgreSQL the JSON columns created by earlier revisions become JSONB (comparable, indexable,
with its operators) and every row id and column referring to one becomes BIGINT, with its
sequence, so that ids can pass 2^31.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 11:45:00
"""
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

GENERATIONS = ('duplicate_generations', 'burst_generations')
JSON_COLUMNS = [
    ('scans', 'roots'), ('scans', 'counts'), ('files', 'warnings'), ('metadata', 'keywords'),
    ('metadata', 'flags'), ('metadata', 'tags'), ('metadata', 'sidecar_tags'), ('capture_dates', 'flags'),
    ('capture_dates', 'candidates'), ('places', 'flags'), ('places', 'rejected'), ('user_overrides', 'value'),
    ('quality', 'components'), *[(g, c) for g in GENERATIONS for c in ('params', 'stats')],
    ('duplicate_members', 'distances'), ('catalog_state', 'value'), ('retired_ids', 'members'),
    ('bursts', 'signals'), ('burst_frames', 'quality'), ('burst_frames', 'link'), ('jobs', 'params'),
    ('jobs', 'stages'), ('jobs', 'failures'), ('jobs', 'result'), ('sidecar_writes', 'values'),
    ('organise_plans', 'totals'), ('embeddings', 'class_scores'), ('embeddings', 'colours'), ('asset_tags', 'tags'),
]
ID_COLUMNS = [
    ('sources', 'id'), ('scans', 'id'), ('files', 'id'), ('files', 'source_id'), ('files', 'last_seen_scan'),
    *[(g, 'id') for g in GENERATIONS], ('duplicate_groups', 'id'), ('duplicate_groups', 'generation_id'),
    ('duplicate_groups', 'stable_id'), ('duplicate_members', 'id'), ('duplicate_members', 'group_id'),
    ('retired_ids', 'stable_id'), ('bursts', 'id'), ('bursts', 'generation_id'), ('bursts', 'stable_id'),
    ('burst_frames', 'id'), ('burst_frames', 'burst_id'), ('jobs', 'id'), ('trash_entries', 'id'),
    ('organise_plans', 'id'), ('organise_ops', 'id'), ('organise_ops', 'plan_id'), ('organise_ops', 'file_id'),
    ('organise_ops', 'trash_entry_id'),
]


def _alter(columns, to_type: str, using: str) -> None:
    tables: dict[str, list[str]] = {}
    for table, column in columns:
        tables.setdefault(table, []).append(column)
    for table, cols in tables.items():  # one ALTER TABLE per table: one rewrite of its rows
        op.execute(f'ALTER TABLE "{table}" ' + ", ".join(
            f'ALTER COLUMN "{c}" TYPE {to_type} USING "{c}"::{using}' for c in cols))


def _sequences(to_type: str) -> None:
    for table, column in ID_COLUMNS:
        if column == 'id':
            op.execute(f"DO $$ DECLARE s text := pg_get_serial_sequence('{table}', 'id'); BEGIN "
                       f"IF s IS NOT NULL THEN EXECUTE 'ALTER SEQUENCE ' || s || ' AS {to_type}'; END IF; END $$")


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    _alter(JSON_COLUMNS, 'JSONB', 'jsonb')
    _alter(ID_COLUMNS, 'BIGINT', 'bigint')
    _sequences('bigint')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    _sequences('integer')
    _alter(ID_COLUMNS, 'INTEGER', 'integer')
    _alter(JSON_COLUMNS, 'JSON', 'json')
