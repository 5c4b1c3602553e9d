"""The change log's triggers and the catalog's version: how a reader knows that nothing it read has
changed since.

Database triggers (migration 0019) add a ``change_log`` row whenever any writer, in any process,
inserts, deletes or updates a row of ``TRACKED_TABLES``. Every stage writes its stage records with
its results, so a change to what a photo's metadata, date or place says is a change of
``stage_records``; a user's own values are ``user_overrides``.
"""

from __future__ import annotations

from sqlalchemy import text

# the tables whose triggers write the change log (migration 0019): SQLite has one trigger per
# table and event (insert, delete, update), PostgreSQL one statement trigger per table
TRACKED_TABLES = ("files", "assets", "stage_records", "user_overrides", "catalog_state", "duplicate_generations",
                  "burst_generations", "duplicate_feedback")


def triggers_present(session) -> bool:
    """Whether every change-log trigger of migration 0019 exists (a table rebuilt by an SQLite batch
    migration loses its triggers)."""
    if session.bind.dialect.name == "postgresql":
        n = session.scalar(text("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgname = ANY(:names) "
                                "AND tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = "
                                "to_regnamespace(current_schema()))"),
                           {"names": [f"{t}_changed" for t in TRACKED_TABLES]})
        return n == len(TRACKED_TABLES)
    names = [f"{t}_{e}_changed" for t in TRACKED_TABLES for e in ("insert", "delete", "update")]
    n = session.scalar(text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name IN "
                            f"({', '.join(repr(n) for n in names)})"))
    return n == len(names)


def catalog_version(session) -> tuple | None:
    """A value that changes whenever a committed write may have changed what a reader of the tracked
    tables (and the stage results they record) saw, and never comes back: the high-water mark of
    the change log's ids. Its rows are deleted once a run has seen them; its id sequence never goes
    back. SQLite has one writer at a time, so ids grow in commit order. None when a trigger is
    missing (then nothing may be kept).

    PostgreSQL's writers commit in any order: one holding an id below the mark may commit after the
    mark was read. Every such writer holds a ``RowExclusiveLock`` on ``change_log`` from before it
    takes its id until it ends, so the value also names the transactions holding one (``pg_locks``,
    read after the mark): the value changes when they end. Unlike the oldest running transaction of
    the server (``pg_snapshot_xmin``, the first version of this key), it does not move for work that
    cannot change the catalog: autovacuum's ANALYZE, or other databases' writes."""
    if not triggers_present(session):
        return None
    if session.bind.dialect.name == "postgresql":
        mark = session.scalar(text(
            "SELECT pg_sequence_last_value(pg_get_serial_sequence('change_log', 'id')::regclass)"))
        writing = session.scalar(text(  # after the mark: a writer that took an id before it read is here
            "SELECT string_agg(virtualtransaction, ',' ORDER BY virtualtransaction) FROM pg_locks "
            "WHERE locktype = 'relation' AND relation = 'change_log'::regclass AND mode = 'RowExclusiveLock' "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND pid <> pg_backend_pid()"))
        return mark, writing
    return (session.scalar(text("SELECT seq FROM sqlite_sequence WHERE name = 'change_log'")),)
