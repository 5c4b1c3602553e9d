"""Creating a catalog is all or nothing: a process killed while it creates the schema leaves a
database the same command creates again, never one refused as "another application's".

Found by CI: `lumina scan` killed in its first second left SQLite with migration 0001's tables and
an empty ``alembic_version`` (Python's sqlite3 commits each CREATE on its own), and every later
command refused the catalog. Both backends; PostgreSQL gets a new, empty database per catalog.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from lumina.catalog.db import DB_NAME, HEAD_REVISION, alembic_config, engine_url, open_catalog
from lumina.catalog.models import Base
from lumina.errors import CatalogError

LUMINA = [sys.executable, "-m", "lumina"]
TABLES = set(Base.metadata.tables) | {"alembic_version"}


@pytest.fixture
def new_database(backend, request, tmp_path):
    """A callable giving (folder, database URL) of a catalog not created yet: a new folder with its
    SQLite file, or a new folder and an empty PostgreSQL database (not the migrated template)."""
    names = iter(range(1_000))

    def make() -> tuple[Path, str]:
        folder = tmp_path / f"cat{next(names)}"
        if backend == "postgresql":
            server = request.getfixturevalue("pg_server")
            return folder, server.url(server.new_database())
        return folder, f"sqlite:///{folder / DB_NAME}"
    return make


def schema(url: str) -> tuple[set[str], str | None]:
    """The tables of the database at ``url`` and its Alembic revision (None: no row or no table)."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return set(), None
    engine = create_engine(engine_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            revision = (conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
                        if "alembic_version" in tables else None)
    finally:
        engine.dispose()
    return tables, revision


def init(folder: Path, url: str, env: dict) -> subprocess.Popen:
    args = ["init", "--catalog", str(folder)]
    if not url.startswith("sqlite"):
        args += ["--database-url", url]
    return subprocess.Popen([*LUMINA, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_a_catalog_killed_while_created_is_created_by_the_same_command(new_database):
    """12 `lumina init` runs SIGKILLed at random moments of the first second (Python's start, the
    imports, the migrations, the claim): each leaves no table or every table at the newest revision,
    and the same command run again succeeds. With SQLite's migrations outside one transaction it failed
    2 runs of 2: a kill left 7 tables and no revision, the state CI met."""
    env = {**os.environ}
    env.pop("LUMINA_DATABASE_URL", None)  # each catalog names its own database
    seed = int(os.environ.get("LUMINA_CHAOS_SEED", time.time_ns() % 10_000))
    rng = random.Random(seed)
    states = []
    for _ in range(12):
        folder, url = new_database()
        proc = init(folder, url, env)
        time.sleep(rng.uniform(0.3, 1.1))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        tables, revision = schema(url)
        states.append((len(tables), revision))
        assert (tables, revision) in ((set(), None), (TABLES, HEAD_REVISION)), (seed, states)
        again = init(folder, url, env)
        out, err = again.communicate(timeout=60)
        assert again.returncode == 0, (seed, states, err)
        assert schema(url) == (TABLES, HEAD_REVISION)


def half_created(url: str, rows_in_assets: int = 0) -> None:
    """What an older Lumina killed in its first migration left: migration 0001's tables, an empty
    ``alembic_version`` (built here with Alembic's own upgrade, then the version row removed)."""
    from alembic import command

    engine = create_engine(engine_url(url), poolclass=NullPool)
    with engine.begin() as conn:
        cfg = alembic_config(url)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.execute(text("DELETE FROM alembic_version"))
        for i in range(rows_in_assets):
            conn.execute(text("INSERT INTO assets VALUES (:id, 1, 'image', 'jpeg', 'magic', 'active', :at)"),
                         {"id": f"{i:064x}", "at": "2026-12-01 00:00:00"})
    engine.dispose()


def test_a_half_created_catalog_of_an_older_lumina_is_created_again(new_database):
    folder, url = new_database()
    folder.mkdir()
    half_created(url)
    tables, revision = schema(url)
    assert revision is None and "assets" in tables and len(tables) < len(TABLES)
    cat = open_catalog(folder, database_url=None if url.startswith("sqlite") else url)
    cat.close()
    assert schema(url) == (TABLES, HEAD_REVISION)


def test_a_half_created_catalog_holding_rows_is_refused_untouched(new_database):
    """A row anywhere means something was written: nothing is dropped, the catalog is refused."""
    folder, url = new_database()
    folder.mkdir()
    half_created(url, rows_in_assets=1)
    before = schema(url)
    with pytest.raises(CatalogError, match="tables of another application"):
        open_catalog(folder, database_url=None if url.startswith("sqlite") else url)
    assert schema(url) == before
