"""Open a catalog folder: its SQLite database (WAL) migrated to the newest schema.

Layout of a catalog folder::

    DIR/catalog.db      SQLite database (WAL mode)
    DIR/lumina.toml     optional settings
    DIR/thumbnails/     derived files (later stages)
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from lumina.errors import CatalogError, ConfigError
from lumina.settings import load_settings

MIGRATIONS = Path(__file__).with_name("migrations")
DB_NAME = "catalog.db"
# Newest migration; a test checks it equals Alembic's head. Knowing it lets an up-to-date catalog
# open without importing Alembic (a third of a second on every command).
HEAD_REVISION = "0016"


DEFAULT_CATALOG = "~/.lumina/catalog"  # also the Makefile's CATALOG: `make run` then `lumina gaps` agree


def catalog_dir_from(option: str | os.PathLike | None) -> Path:
    """The catalog folder from ``--catalog``, else ``LUMINA_CATALOG``, else ``DEFAULT_CATALOG``
    (``~/.lumina/catalog``); an empty value counts as not given."""
    value = option if option not in (None, "") else os.environ.get("LUMINA_CATALOG")
    if not value or not str(value).strip():
        value = DEFAULT_CATALOG
    return Path(value).expanduser().absolute()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=30000")  # first: the journal_mode switch below may have to wait
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def alembic_config(url: str):
    """Alembic configuration pointing at the packaged migrations."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        try:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except OperationalError as exc:
            if "no such table" in str(exc):  # a new, empty database
                return None
            raise


def migrate(engine: Engine) -> None:
    """Upgrade the database to the newest migration if it is behind (no-op when current)."""
    if current_revision(engine) == HEAD_REVISION:
        return
    from alembic import command

    cfg = alembic_config(str(engine.url))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@contextmanager
def exclusive_lock(lock_path: Path) -> Iterator[None]:
    """A blocking ``flock`` on ``lock_path`` (released by the kernel if the process dies).

    Where the lock file cannot be created (a read-only catalog folder) nothing can write the
    catalog either, so it proceeds unlocked.
    """
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class WriterBusy(CatalogError):
    """Another process holds a SQLite catalog's single writer lock; ``holder`` is its pid."""

    def __init__(self, message: str, holder: str):
        super().__init__(message)
        self.holder = holder


@dataclass
class Catalog:
    """An open catalog: its folder, engine, session factory and settings."""

    path: Path
    engine: Engine
    sessions: sessionmaker[Session]
    settings: dict[str, Any]
    _lock_depth: int = 0
    _lock_owner: int | None = None  # thread holding the lock: re-entrant for it, refused to others

    def session(self) -> Session:
        return self.sessions()

    def with_settings(self, overrides: dict[str, Any]) -> Catalog:
        """The same open catalog with some settings replaced (validated like ``lumina.toml`` values).

        Raises:
            ConfigError: unknown setting or invalid value.
        """
        from lumina.settings import coerce

        other = Catalog(self.path, self.engine, self.sessions, {**self.settings, **coerce(overrides)})
        other._lock_depth, other._lock_owner = self._lock_depth, self._lock_owner  # used within our lock
        return other

    @contextmanager
    def writer(self) -> Iterator[None]:
        """Hold the catalog's writer lock (one scan, job or pipeline run at a time; re-entrant within
        one thread; another thread or process gets an error, never a shared lock). A PostgreSQL
        catalog takes several writers: their jobs and batches are claimed row by row instead
        (``lumina.pipeline.leases``), so there this holds nothing.

        Raises:
            WriterBusy: another process or thread holds it.
        """
        if self.engine.dialect.name == "postgresql":
            yield
            return
        if self._lock_depth and self._lock_owner == threading.get_ident():
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        fd = os.open(self.path / "writer.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise WriterBusy(f"another scan or run is writing to {self.path} (pid {holder}); "
                             "wait for it to finish", holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_depth, self._lock_owner = 1, threading.get_ident()
        try:
            yield
        finally:
            self._lock_depth, self._lock_owner = 0, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def close(self) -> None:
        self.engine.dispose()


def open_catalog(path: str | os.PathLike | None, create: bool = True,
                 overrides: dict[str, Any] | None = None) -> Catalog:
    """Open (and if needed create and migrate) the catalog in folder ``path``.

    Args:
        path: catalog folder; ``None`` means ``LUMINA_CATALOG``, else ``DEFAULT_CATALOG``.
        create: create the folder and database if missing; else raise.
        overrides: setting values from the command line.
    Raises:
        ConfigError: bad settings.
        CatalogError: the folder or database cannot be created or opened.
    """
    folder = catalog_dir_from(path)
    db = folder / DB_NAME
    if not db.exists() and not create:
        raise CatalogError(f"no catalog at {folder}; run `lumina scan PATH --catalog {folder}` first")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CatalogError(f"cannot create catalog folder {folder}: {exc}") from exc
    engine = create_engine(f"sqlite:///{db}")
    event.listen(engine, "connect", _sqlite_pragmas)
    try:
        # Two commands on a brand-new catalog would race to create the file, switch it to WAL and
        # create its tables ("database is locked", "table already exists"): the first connection
        # and the migration happen under one lock, so the second waits and finds the schema
        # current. On an up-to-date catalog the lock is held for one SELECT.
        with exclusive_lock(folder / "migrate.lock"):
            migrate(engine)
    except Exception as exc:  # any driver error here means the catalog is unusable
        engine.dispose()
        raise CatalogError(f"cannot open catalog {db}: {exc}") from exc
    settings = load_settings(folder, overrides)
    settings["catalog_dir"] = str(folder)  # where stages write derived files (not a user setting)
    return Catalog(folder, engine, sessionmaker(engine, expire_on_commit=False), settings)
