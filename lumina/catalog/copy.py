"""Copy a whole catalog to another database: SQLite to PostgreSQL, back, or to another folder.

Every table of the schema is copied in dependency order (parents first, ``Base.metadata.sorted_tables``)
in batches of ``BATCH_ROWS`` rows read with a server-side cursor, row ids kept as they are; on
PostgreSQL each table's id sequence is then set past the largest copied id, so new rows never collide.
The row count of every table is compared between source and target after the copy.

Derived files of the catalog folder (thumbnails, previews, settings, the API token) stay where they
are when the target database belongs to the same folder, and are copied (hard links where the file
system allows, else copies) when the target is a new folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Integer, func, insert, select, text

from lumina.catalog.db import DB_NAME, FOLDERS_KEY, URL_FILE, Catalog
from lumina.catalog.models import Base, CatalogState
from lumina.errors import CatalogError

BATCH_ROWS = 5_000  # rows per INSERT batch: a few MB of parameters at most (signatures are 4 KiB)
# files of a catalog folder that belong to its database or to one process, never copied
NOT_COPIED = {DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal", URL_FILE, "migrate.lock", "writer.lock"}
NOT_COPIED_PREFIXES = (".inline-batch-",)  # a crashed run's markers (lumina.pipeline.executors.INLINE_MARKER)
# catalog_state rows that describe the database, not the catalog (the folders using a PostgreSQL
# database): never copied, counted or replaced, so each database keeps its own
DATABASE_STATE_KEYS = (FOLDERS_KEY,)
# tables a copy never moves or counts: the database's own write log and the planner's marks
# (migration 0019, lumina.pipeline.watermark: the target's first run plans in full), and the gap
# report's summary (migration 0018), which the target's own triggers fill as the rows go in (every
# copied asset is marked, and the target's first report profiles them)
NOT_COPIED_TABLES = ("change_log", "plan_marks", "gap_profiles", "gap_asset_profiles", "gap_dirty")


def copied_tables() -> list:
    """The tables a copy moves and counts, parents first: all but ``NOT_COPIED_TABLES``."""
    return [t for t in Base.metadata.sorted_tables if t.name not in NOT_COPIED_TABLES]


def _where(statement, table):
    """``statement`` (a SELECT, count or DELETE of ``table``) limited to the rows that belong to the
    catalog: all of them but ``DATABASE_STATE_KEYS`` in ``catalog_state``."""
    if table.name != CatalogState.__tablename__:
        return statement
    return statement.where(CatalogState.key.not_in(DATABASE_STATE_KEYS))


def row_counts(catalog: Catalog) -> dict[str, int]:
    """Rows per table of the schema (``alembic_version``, ``NOT_COPIED_TABLES`` and ``DATABASE_STATE_KEYS``
    excluded), in dependency order."""
    with catalog.engine.connect() as conn:
        return {t.name: conn.scalar(_where(select(func.count()).select_from(t), t)) for t in copied_tables()}


def copy_rows(source: Catalog, target: Catalog, force: bool = False,
              progress: Callable[[str, int], None] | None = None) -> dict[str, tuple[int, int]]:
    """Copy every row of ``source``'s database into ``target``'s (both migrated to the same revision).

    Args:
        force: empty a non-empty target first (every table, children first) instead of refusing.
        progress: called with (table, rows copied so far) after each batch.
    Returns:
        ``{table: (source rows, target rows)}`` in dependency order; equal pairs mean a complete copy.
    Raises:
        CatalogError: the target holds rows and ``force`` is False, both are the same database, or a
            table's counts differ after the copy.
    """
    if source.engine.url == target.engine.url:
        raise CatalogError("source and target are the same database")
    tables = copied_tables()
    filled = {name: n for name, n in row_counts(target).items() if n}
    if filled and not force:
        listed = ", ".join(f"{name} ({n})" for name, n in list(filled.items())[:5])
        raise CatalogError(f"the target catalog is not empty ({listed}{', ...' if len(filled) > 5 else ''}); "
                           "give --force to replace its rows")
    with target.engine.begin() as out:
        for table in reversed(tables):  # children first
            if table.name in filled:
                out.execute(_where(table.delete(), table))
        with source.engine.connect() as src:
            for table in tables:
                copied = 0
                rows = src.execution_options(stream_results=True, yield_per=BATCH_ROWS).execute(_where(select(table), table))
                for batch in rows.partitions(BATCH_ROWS):
                    out.execute(insert(table), [dict(r._mapping) for r in batch])
                    copied += len(batch)
                    if progress:
                        progress(table.name, copied)
        if out.dialect.name == "postgresql":
            for table in tables:
                _advance_sequence(out, table)
    refresh_statistics(target)
    counts = row_counts(source)
    after = row_counts(target)
    result = {name: (counts[name], after[name]) for name in counts}
    wrong = {name: pair for name, pair in result.items() if pair[0] != pair[1]}
    if wrong:
        raise CatalogError("row counts differ after the copy: " +
                           ", ".join(f"{name} {a} -> {b}" for name, (a, b) in wrong.items()))
    return result


def refresh_statistics(catalog: Catalog) -> None:
    """After a bulk load into PostgreSQL: ANALYZE, so that the planner knows the tables' sizes (until
    autovacuum gets to them it plans nested loops for a few rows: 1.7 s instead of 0.8 s for the gap
    report at 20k assets). SQLite keeps planning without statistics, as it always has."""
    if catalog.backend == "postgresql":
        with catalog.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))


def _advance_sequence(conn, table) -> None:
    """Set the id sequence of ``table`` (a single integer primary key with a default sequence) past its largest id."""
    keys = list(table.primary_key.columns)
    if len(keys) != 1 or not isinstance(keys[0].type, Integer) or not keys[0].autoincrement:
        return
    column = keys[0]
    sequence = conn.scalar(select(func.pg_get_serial_sequence(table.name, column.name)))
    if sequence is None:
        return
    largest = conn.scalar(select(func.max(column)))
    # setval(seq, n, is_called): the next id is n + 1 when is_called, else n (an empty table starts at 1)
    conn.execute(select(func.setval(text(f"'{sequence}'::regclass"), largest or 1, largest is not None)))


def copy_folder_files(source: Path, target: Path) -> int:
    """Copy the derived files of catalog folder ``source`` (thumbnails, previews, settings, token)
    into ``target``, hard-linked where possible; returns how many files. Database files and locks
    (``NOT_COPIED``) stay behind."""
    count = 0
    for root, dirs, files in os.walk(source):
        rel = Path(root).relative_to(source)
        (target / rel).mkdir(parents=True, exist_ok=True)
        for name in files:
            if rel == Path(".") and (name in NOT_COPIED or name.startswith(NOT_COPIED_PREFIXES)):
                continue
            src, dst = Path(root) / name, target / rel / name
            if dst.exists():
                continue
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)
            count += 1
    return count
