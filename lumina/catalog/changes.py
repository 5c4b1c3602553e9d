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
    back. SQLite has one writer at a time, so ids grow in commit order. PostgreSQL's writers commit
    in any order, so the oldest transaction still running (``pg_snapshot_xmin``) is part of the
    value: a write that commits after a later id was read moves it. None when a trigger is missing
    (then nothing may be kept)."""
    if not triggers_present(session):
        return None
    if session.bind.dialect.name == "postgresql":
        return tuple(session.execute(text(
            "SELECT pg_sequence_last_value(pg_get_serial_sequence('change_log', 'id')::regclass), "
            "pg_snapshot_xmin(pg_current_snapshot())::text")).one())
    return (session.scalar(text("SELECT seq FROM sqlite_sequence WHERE name = 'change_log'")),)
