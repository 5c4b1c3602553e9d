"""Open a catalog folder: its database (SQLite in the folder, or PostgreSQL) migrated to the newest schema.

Layout of a catalog folder::

    DIR/catalog.db      SQLite database (WAL mode), the default
    DIR/database.url    or: the PostgreSQL URL of its database (given once, remembered; mode 0600)
    DIR/lumina.toml     optional settings
    DIR/thumbnails/     derived files (later stages)

Both backends go through one code path: the same models, migrations and queries; only the
connection set-up (SQLite pragmas, the migration lock) differs.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from lumina.errors import CatalogError, ConfigError, ConflictError
from lumina.settings import load_settings

MIGRATIONS = Path(__file__).with_name("migrations")
DB_NAME = "catalog.db"
URL_FILE = "database.url"  # a PostgreSQL catalog's database URL, written once by `lumina init`
DATABASE_URL_ENV = "LUMINA_DATABASE_URL"  # the database of a new catalog folder when none is remembered
# pg_advisory_xact_lock key of the migration: "lumina" in ASCII (any constant works; one per catalog database)
MIGRATION_LOCK_KEY = 0x6C756D696E61
# Newest migration; a test checks it equals Alembic's head. Knowing it lets an up-to-date catalog
# open without importing Alembic (a third of a second on every command).
HEAD_REVISION = "0020"


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
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser interpolation: a socket path is %2F
    return cfg


def redact(url: str | URL) -> str:
    """``url`` with its password replaced by ``***`` (for messages; never print a password)."""
    try:
        return make_url(url).render_as_string(hide_password=True) if not isinstance(url, URL) \
            else url.render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable URL>"


def engine_url(url: str | URL) -> URL:
    """The SQLAlchemy URL for a user's database URL: ``postgresql://`` (or ``postgres://``) gets the
    psycopg 3 driver; ``sqlite:///PATH`` stays. A Unix socket is ``postgresql:///DB?host=/dir``
    (libpq's own form, passed through to psycopg).

    Raises:
        ConfigError: not a URL, or not a PostgreSQL/SQLite one.
    """
    try:
        u = url if isinstance(url, URL) else make_url(str(url).strip())
    except ArgumentError:
        raise ConfigError(f"database URL {redact(str(url))!r} is not a URL; give "
                          "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE (or ...?host=/socket/dir)") from None
    backend, _, driver = u.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        if not u.database:
            raise ConfigError(f"database URL {redact(u)!r} names no database; add /DATABASE to it")
        return u.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and not driver:
        return u
    raise ConfigError(f"database URL {redact(u)!r}: only postgresql:// (psycopg 3) and sqlite:/// URLs are supported")


def current_revision(conn) -> str | None:
    """The database's Alembic revision; None for a database without ``alembic_version`` (new)."""
    if conn.dialect.name != "sqlite":  # a failed SELECT would abort PostgreSQL's transaction
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    try:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except OperationalError as exc:
        if "no such table" in str(exc):  # a new, empty database
            return None
        raise


def _check_ours(conn, revision: str | None) -> None:
    """Refuse a database that belongs to another application (tables but no Lumina revision).

    Raises:
        CatalogError: the database has tables and no ``alembic_version``, or a revision Lumina's
            migrations do not know.
    """
    if revision is None:
        tables = sorted(t for t in inspect(conn).get_table_names())
        if tables:
            raise CatalogError(f"the database holds {len(tables)} tables of another application "
                               f"({', '.join(tables[:3])}{', ...' if len(tables) > 3 else ''}) and no Lumina "
                               "catalog; give Lumina an empty database of its own")
        return
    from alembic.script import ScriptDirectory

    try:
        ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(revision)
    except Exception:  # alembic's ResolutionError / CommandError: not one of our revisions
        raise CatalogError(f"the database has schema revision {revision!r}, which this Lumina does not know "
                           "(another application's database, or a catalog of a newer Lumina)") from None


def migrate(engine: Engine) -> None:
    """Upgrade the database to the newest migration if it is behind (no-op when current).

    The check and every migration run in one transaction, so a process killed while creating or
    upgrading a catalog leaves it as it was: the same command run again migrates it. PostgreSQL's
    DDL is transactional; on SQLite the transaction is begun explicitly (``BEGIN IMMEDIATE``),
    since Python's sqlite3 module commits each ``CREATE``/``ALTER`` on its own by default. On
    PostgreSQL the work runs under a transaction-level advisory lock, so that processes on several
    machines opening a new catalog at once migrate it once.

    A database whose creation an older Lumina left half done (Lumina's tables, all empty, and an
    empty ``alembic_version``) is emptied and created again: nothing is in it to lose.

    Raises:
        CatalogError: the database belongs to another application (see ``_check_ours``).
    """
    postgres = engine.dialect.name == "postgresql"
    if not postgres:
        with engine.connect() as conn:
            if current_revision(conn) == HEAD_REVISION:
                return
    with _migration_transaction(engine) as conn:
        if postgres:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        revision = current_revision(conn)
        if revision == HEAD_REVISION:
            return
        if revision is None:
            _drop_interrupted_creation(conn)
        _check_ours(conn, revision)
        from alembic import command

        cfg = alembic_config(engine.url.render_as_string(hide_password=False))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@contextmanager
def _migration_transaction(engine: Engine) -> Iterator[Any]:
    """A connection in one transaction, committed at the end, rolled back on an error; DDL included.

    SQLite: the driver connection is switched to manual transactions (``isolation_level=None``)
    for the duration and ``BEGIN IMMEDIATE`` takes the write lock at once (the SQLAlchemy
    documentation's recipe for transactional DDL with pysqlite).
    """
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        level = driver.isolation_level
        driver.isolation_level = None
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        finally:
            driver.isolation_level = level


def _drop_interrupted_creation(conn) -> None:
    """Drop a catalog's tables left by a creation that was killed before its first commit.

    Only when ``alembic_version`` exists with no row, every table is one of Lumina's, and every
    table is empty; anything else is left to ``_check_ours`` to refuse.
    """
    from lumina.catalog.models import Base

    inspector = inspect(conn)
    tables = set(inspector.get_table_names())
    if "alembic_version" not in tables or not tables <= set(Base.metadata.tables) | {"alembic_version"}:
        return
    preparer = conn.dialect.identifier_preparer
    if any(conn.execute(text(f"SELECT 1 FROM {preparer.quote(t)} LIMIT 1")).first() for t in tables):
        return
    for table in Base.metadata.sorted_tables[::-1]:  # dependents first: foreign keys
        if table.name in tables:
            table.drop(conn)
    conn.execute(text("DROP TABLE alembic_version"))


def vector_extension(engine: Engine) -> tuple[str | None, str | None]:
    """Create PostgreSQL's ``vector`` extension (pgvector) when the server has it.

    Returns:
        ``(version, None)`` when the extension is installed in the database, else ``(None, message)``
        saying why not and what to do; ``(None, None)`` on SQLite (vectors stay bytes there).
    """
    if engine.dialect.name != "postgresql":
        return None, None
    with engine.begin() as conn:
        installed, available = conn.execute(text(
            "SELECT (SELECT extversion FROM pg_extension WHERE extname = 'vector'), "
            "(SELECT default_version FROM pg_available_extensions WHERE name = 'vector')")).one()
    if installed:
        return installed, None
    if not available:
        return None, ("this PostgreSQL server has no pgvector extension; the catalog works, with vectors kept "
                      "as bytes; install pgvector on the server (Debian: postgresql-NN-pgvector) for vector search")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
            return conn.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")).scalar(), None
    except Exception as exc:  # permission denied: only a superuser or the database owner may create it
        orig = getattr(exc, "orig", None) or exc
        return None, (f"pgvector is available but could not be created ({str(orig).splitlines()[0]}); ask the "
                      "database administrator to run CREATE EXTENSION vector in this database")


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


def advisory_key(name: str) -> int:
    """A signed 64-bit advisory-lock key for ``name`` (first 8 bytes of its SHA-256), stable
    across processes and machines (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.sha256(f"lumina:{name}".encode()).digest()[:8], "big", signed=True)


WRITER_LOCK_KEY = advisory_key("writer")  # PostgreSQL's writer lock (shared: workers; exclusive: operations)


def busy_message(path: Path, holder: str) -> str:
    """The one-line refusal of a second writer, the same on both backends."""
    return f"another scan or run is writing to {path} (pid {holder}); wait for it to finish"


def _pg_try_lock(conn: Any, path: Path, exclusive: bool) -> None:
    """Take ``WRITER_LOCK_KEY`` on ``conn`` without waiting, and name this process in its
    ``application_name`` (what a refused writer reports as the holder).

    Raises:
        WriterBusy: another session holds it in a conflicting mode.
    """
    fn = "pg_try_advisory_lock" if exclusive else "pg_try_advisory_lock_shared"
    if not conn.scalar(text(f"SELECT {fn}(:key)"), {"key": WRITER_LOCK_KEY}):
        conn.rollback()
        holders = conn.scalars(text(
            "SELECT DISTINCT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.pid <> pg_backend_pid() "
            "AND l.classid::bigint = :hi AND l.objid::bigint = :lo"),
            {"hi": (WRITER_LOCK_KEY >> 32) & 0xFFFFFFFF, "lo": WRITER_LOCK_KEY & 0xFFFFFFFF}).all()
        conn.rollback()
        pids = sorted({h.removeprefix("lumina pid ") for h in holders if h and h.startswith("lumina pid ")})
        holder = ", ".join(pids) or "?"
        raise WriterBusy(busy_message(path, holder), holder)
    conn.execute(text("SELECT set_config('application_name', :name, false)"), {"name": f"lumina pid {os.getpid()}"})
    conn.commit()  # a session-level lock: it outlives this transaction, the connection idles meanwhile


def _pg_unlock(conn: Any, exclusive: bool) -> None:
    fn = "pg_advisory_unlock" if exclusive else "pg_advisory_unlock_shared"
    conn.execute(text(f"SELECT {fn}(:key)"), {"key": WRITER_LOCK_KEY})
    conn.execute(text("RESET application_name"))
    conn.commit()


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
    vector_version: str | None = None  # pgvector's version when the extension is in the database
    vector_notice: str | None = None  # why it is not (PostgreSQL only), for `lumina init` to print
    _lock_depth: int = 0
    _lock_owner: int | None = None  # thread holding the lock: re-entrant for it, refused to others
    _pg_holds: dict[int, dict[str, Any]] = field(default_factory=dict)  # PostgreSQL: thread -> its lock

    def session(self) -> Session:
        return self.sessions()

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @property
    def database(self) -> str:
        """Where the database is, for messages: the SQLite file or the PostgreSQL URL without password."""
        return str(self.path / DB_NAME) if self.backend == "sqlite" else shown(self.engine.url)

    def with_settings(self, overrides: dict[str, Any]) -> Catalog:
        """The same open catalog with some settings replaced (validated like ``lumina.toml`` values).

        Raises:
            ConfigError: unknown setting or invalid value.
        """
        from lumina.settings import coerce

        other = Catalog(self.path, self.engine, self.sessions, {**self.settings, **coerce(overrides)},
                        self.vector_version, self.vector_notice)
        other._lock_depth, other._lock_owner = self._lock_depth, self._lock_owner  # used within our lock
        other._pg_holds = self._pg_holds  # the same locks, whichever settings they run with
        return other

    @contextmanager
    def writer(self, exclusive: bool = False) -> Iterator[None]:
        """Hold the catalog's writer lock (re-entrant within one thread; another thread or process is
        refused, never made to wait).

        SQLite keeps a single writer: a local ``flock`` on ``DIR/writer.lock`` for every scan, job,
        pipeline run and operation. A PostgreSQL catalog takes several writers (their jobs and batches
        are claimed row by row, ``lumina.pipeline.leases``): there scans, jobs and workers hold the
        shared mode of one advisory lock (``pg_try_advisory_lock_shared``), while operations that move
        or delete library files or must see the catalog still (``exclusive``: organise, trash, sidecar
        writing, resolving duplicates, catalog copy and removal) hold its exclusive mode, so they run
        alone, as on SQLite. The server drops the lock when the holding process dies.

        Raises:
            WriterBusy: another process or thread holds it (on PostgreSQL: in a conflicting mode).
        """
        if self.engine.dialect.name == "postgresql":
            with self._pg_writer(exclusive):
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
            raise WriterBusy(busy_message(self.path, holder), holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_depth, self._lock_owner = 1, threading.get_ident()
        try:
            yield
        finally:
            self._lock_depth, self._lock_owner = 0, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @contextmanager
    def _pg_writer(self, exclusive: bool) -> Iterator[None]:
        """``writer`` on PostgreSQL: the advisory lock ``WRITER_LOCK_KEY`` on a connection kept for the
        block, one per thread (``_pg_holds``); a nested exclusive request upgrades on that connection
        (a session's own locks never conflict with each other, only other sessions' do)."""
        me = threading.get_ident()
        held = self._pg_holds.get(me)
        if held is not None:
            upgrade = exclusive and not held["exclusive"]
            if upgrade:
                _pg_try_lock(held["conn"], self.path, exclusive=True)
                held["exclusive"] = True
            held["depth"] += 1
            try:
                yield
            finally:
                held["depth"] -= 1
                if upgrade:
                    held["exclusive"] = False
                    _pg_unlock(held["conn"], exclusive=True)
            return
        conn = self.engine.connect()
        try:
            _pg_try_lock(conn, self.path, exclusive)
        except BaseException:
            conn.close()
            raise
        self._pg_holds[me] = {"conn": conn, "depth": 1, "exclusive": exclusive}
        try:
            yield
        finally:
            del self._pg_holds[me]
            try:
                _pg_unlock(conn, exclusive)
                conn.close()
            except Exception:  # connection lost: the server has dropped the lock with it
                conn.invalidate()
                conn.close()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Catalog:
        """``with open_catalog(...) as cat:`` closes it at the end of the block, also on an error."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def remembered_url(folder: Path) -> str | None:
    """The database URL remembered in catalog folder ``folder`` (``DIR/database.url``), or None (SQLite)."""
    try:
        return (folder / URL_FILE).read_text().strip() or None
    except FileNotFoundError:
        return None


def _database_url(folder: Path, database_url: str | None, create: bool) -> tuple[str, str | None]:
    """The database of catalog ``folder``: the URL given, the remembered one, ``LUMINA_DATABASE_URL``
    for a new folder, else the SQLite file inside it; and, for a URL to remember once it opened,
    where it came from (``"given"`` or ``"environment"``), else None.

    Raises:
        ConfigError: a malformed URL.
        CatalogError: a different database is already remembered, or the folder has no catalog
            and ``create`` is False.
    """
    remembered = remembered_url(folder)
    sqlite_file = folder / DB_NAME
    if database_url:
        given = engine_url(database_url)
        if remembered is not None and engine_url(remembered) != given:
            raise CatalogError(f"catalog {folder} already uses database {shown(remembered)}; give that URL, or "
                               "another catalog folder")
        if remembered is None and sqlite_file.exists() and given.get_backend_name() != "sqlite":
            raise CatalogError(f"catalog {folder} already has a SQLite database ({sqlite_file}); use another "
                               "catalog folder for the PostgreSQL one")
    elif remembered is not None:
        return remembered, None
    elif not sqlite_file.exists() and os.environ.get(DATABASE_URL_ENV, "").strip():
        database_url = os.environ[DATABASE_URL_ENV]
        if engine_url(database_url).get_backend_name() != "sqlite":
            if not create:
                raise CatalogError(f"no catalog at {folder}; run `lumina scan PATH --catalog {folder}` first")
            return database_url.strip(), "environment"
    if database_url and engine_url(database_url).get_backend_name() != "sqlite":
        if remembered is None and not create:
            raise CatalogError(f"no catalog at {folder}; run `lumina init --catalog {folder} "
                               f"--database-url URL` or `lumina scan PATH --catalog {folder}` first")
        return database_url.strip(), "given" if remembered is None else None
    if not sqlite_file.exists() and not create:
        raise CatalogError(f"no catalog at {folder}; run `lumina scan PATH --catalog {folder}` first")
    return f"sqlite:///{sqlite_file}", None


def _remember(folder: Path, database_url: str) -> None:
    """Write ``DIR/database.url`` (mode 0600: the URL may hold a password)."""
    fd = os.open(folder / URL_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(database_url + "\n")


def shown(url: str | URL) -> str:
    """A database URL as users write it (``postgresql://``), without its password."""
    u = engine_url(url)
    return redact(u.set(drivername=u.get_backend_name()))


FOLDERS_KEY = "catalog.folders"  # catalog_state: the folders that remember this database (PostgreSQL)


def _claim(engine: Engine, folder: Path, origin: str, own_database: bool = False) -> None:
    """Record ``folder`` as a user of the database, in the database itself.

    Raises:
        CatalogError: the URL came from LUMINA_DATABASE_URL and another folder already uses the
            database (the variable names one database: a second folder must not share it by accident;
            ``lumina init --database-url`` shares it on purpose).
        ConflictError: ``own_database`` and any catalog folder already uses the database.
    """
    from sqlalchemy.orm import Session

    from lumina.catalog.models import CatalogState
    from lumina.catalog.writes import upsert

    with Session(engine) as s:
        row = s.get(CatalogState, FOLDERS_KEY, with_for_update=True)
        folders = list(row.value) if row is not None else []
        if own_database and folders:
            raise ConflictError(f"database {shown(engine.url)} already holds a catalog (of folder {folders[0]}); "
                                "give the new catalog an empty database of its own")
        if origin == "environment" and folders and str(folder) not in folders:
            raise CatalogError(f"database {shown(engine.url)} (LUMINA_DATABASE_URL) already holds another catalog "
                               f"({folders[0]}); to share it from this folder run `lumina init --catalog {folder} "
                               "--database-url URL`, else give this catalog a database of its own")
        if str(folder) not in folders:
            upsert(s, CatalogState, [dict(key=FOLDERS_KEY, value=folders + [str(folder)])])
        s.commit()


def _connect_error(exc: Exception, where: str) -> CatalogError:
    """One line for a database that cannot be reached or used (server down, password refused, ...)."""
    orig = getattr(exc, "orig", None) or exc
    first = next((line.strip() for line in str(orig).splitlines() if line.strip()), type(orig).__name__)
    low = str(orig).lower()
    if "password authentication failed" in low or "no password supplied" in low:
        hint = "check the user name and password in the URL"
    elif "does not exist" in low and "database" in low:
        hint = "create the database first (createdb NAME) or fix its name in the URL"
    elif "connection refused" in low or "no such file or directory" in low or "could not translate" in low \
            or "timeout" in low or "is the server running" in low:
        hint = "is the PostgreSQL server running and reachable there?"
    else:
        hint = "check the database URL and server"
    return CatalogError(f"cannot open catalog database {where}: {first}; {hint}")


def open_catalog(path: str | os.PathLike | None, create: bool = True,
                 overrides: dict[str, Any] | None = None, database_url: str | None = None,
                 own_database: bool = False) -> Catalog:
    """Open (and if needed create and migrate) the catalog in folder ``path``.

    Args:
        path: catalog folder; ``None`` means ``LUMINA_CATALOG``, else ``DEFAULT_CATALOG``.
        create: create the folder and database if missing; else raise.
        overrides: setting values from the command line.
        database_url: ``postgresql://...`` (TCP, or a Unix socket with ``?host=/dir``) for a new
            catalog, remembered in the folder; ``None``: the remembered URL, else
            ``LUMINA_DATABASE_URL`` for a new folder, else the SQLite file ``DIR/catalog.db``.
        own_database: a new PostgreSQL database must not be used by any catalog folder yet (the
            API's new catalogs: never one shared with another catalog, not even on purpose).
    Raises:
        ConfigError: bad settings or a malformed URL.
        CatalogError: the folder or database cannot be created, reached or opened, or the
            database belongs to another application.
        ConflictError: ``own_database`` and a catalog folder already uses the database.
    """
    folder = catalog_dir_from(path)
    given, remember = _database_url(folder, database_url, create)
    url = engine_url(given)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CatalogError(f"cannot create catalog folder {folder}: {exc}") from exc
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        where = url.database
    else:
        # pre-ping: a pooled connection the server dropped (restart, pg_terminate_backend) is replaced
        # instead of failing the next command of a long-lived process (the API, a worker)
        engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
        where = shown(url)
    try:
        # Two commands on a brand-new catalog would race to create the file, switch it to WAL and
        # create its tables ("database is locked", "table already exists"): the first connection
        # and the migration happen under one lock, so the second waits and finds the schema
        # current. On an up-to-date catalog the lock is held for one SELECT. (PostgreSQL: an
        # advisory lock inside migrate.)
        with exclusive_lock(folder / "migrate.lock"):
            migrate(engine)
        vector_version, vector_notice = vector_extension(engine)
    except CatalogError:
        engine.dispose()
        raise
    except Exception as exc:  # any driver error here means the catalog is unusable
        engine.dispose()
        if url.get_backend_name() == "sqlite":
            raise CatalogError(f"cannot open catalog {where}: {exc}") from exc
        raise _connect_error(exc, where) from None
    if remember:
        try:
            _claim(engine, folder, remember, own_database)
        except (CatalogError, ConflictError):
            engine.dispose()
            raise
    if remember:  # only a database that opened and migrated is remembered: a typo can be fixed by running again
        _remember(folder, given)
    settings = load_settings(folder, overrides)
    settings["catalog_dir"] = str(folder)  # where stages write derived files (not a user setting)
    return Catalog(folder, engine, sessionmaker(engine, expire_on_commit=False), settings, vector_version, vector_notice)
