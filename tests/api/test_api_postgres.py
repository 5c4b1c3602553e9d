"""POST /api/catalogs with a ``database_url`` (issue 16): a catalog created over the API on a real
PostgreSQL server (tests/postgres.py, the session's server), scanned, listed after a restart, and
each bad set-up answered with one line, the password never shown and no folder left behind."""

from __future__ import annotations

import os
import shutil
import stat

import pytest
from fastapi.testclient import TestClient

from lumina.api.app import create_app
from lumina.catalog.db import URL_FILE
from tests.api.test_api import AUTH, TOKEN, assert_error, follow

PHOTOS = ["originals/Apple iPhone 4.jpg", "originals/Canon EOS 7D.jpg", "bursts/IMG_4101.JPG"]


@pytest.fixture
def served(tmp_path, eval_dev, monkeypatch):
    """(home folder, library) of a server whose own catalog is SQLite."""
    monkeypatch.delenv("LUMINA_DATABASE_URL", raising=False)
    monkeypatch.setenv("LUMINA_SETTLE_S", "0")
    lib = tmp_path / "library"
    lib.mkdir()
    for rel in PHOTOS:
        shutil.copy2(eval_dev / rel, lib / os.path.basename(rel))
    return tmp_path / "home", lib


def test_a_catalog_created_over_the_api_on_postgresql(pg_server, served):
    """The new catalog's rows live in the PostgreSQL database, its folder remembers the URL (0600),
    the answer shows the URL without its password, a restarted server finds it, and a second catalog
    on the same database is refused (409), also after the first is deleted (its rows stay)."""
    home, lib = served
    name = pg_server.new_database()
    url = pg_server.url(name)
    password = url.split(":")[2].split("@")[0]
    with TestClient(create_app(home, TOKEN, worker=True)) as c:
        res = c.post("/api/catalogs", json={"name": "NAS photos", "sources": [str(lib)], "database_url": url},
                     headers=AUTH)
        assert res.status_code == 201, res.text
        doc = res.json()
        assert doc["database"] == f"postgresql://postgres:***@127.0.0.1:{pg_server.port}/{name}"
        assert password not in res.text and doc["sources"] == [str(lib)]
        folder = home / "catalogs" / "nas-photos"
        assert (folder / URL_FILE).read_text().strip() == url and not (folder / "catalog.db").exists()
        assert stat.S_IMODE(os.stat(folder / URL_FILE).st_mode) == 0o600
        job = c.post("/api/catalogs/nas-photos/scan", headers=AUTH)
        assert job.status_code == 202
        assert follow(c, job.json()["id"])[-1]["status"] == "succeeded"
        listed = c.get("/api/catalogs/nas-photos/images", params={"limit": 500}, headers=AUTH).json()
        assert listed["total"] == len(PHOTOS)
        assert pg_server.sql("SELECT count(*) FROM assets", database=name) == [(len(PHOTOS),)]
        default = c.get("/api/catalogs/default", headers=AUTH).json()
        assert default["database"] == str(home / "catalog.db")  # the served catalog stays SQLite
        again = c.post("/api/catalogs", json={"name": "Same database", "database_url": url}, headers=AUTH)
        assert_error(again, 409, "conflict")
        assert "already holds a catalog" in again.json()["error"]["message"] and password not in again.text
        assert not (home / "catalogs" / "same-database").exists()
    with TestClient(create_app(home, TOKEN, worker=False)) as c:  # a restarted server: the folder's URL
        items = {i["id"]: i for i in c.get("/api/catalogs", headers=AUTH).json()["items"]}
        assert items["nas-photos"]["database"] == doc["database"]
        page = c.get("/api/catalogs/nas-photos/images", params={"limit": 500}, headers=AUTH).json()
        assert len(page["items"]) == len(PHOTOS)
        assert c.delete("/api/catalogs/nas-photos", headers=AUTH).status_code == 204
        assert not folder.exists()
        assert pg_server.sql("SELECT count(*) FROM assets", database=name) == [(len(PHOTOS),)]  # never dropped
        assert_error(c.post("/api/catalogs", json={"name": "NAS photos", "database_url": url}, headers=AUTH),
                     409, "conflict")


def test_bad_database_urls_give_one_line(pg_server, served):
    """Server down, password refused, no such database, another application's database, not a
    PostgreSQL URL: 422 with one line naming the cause, the password never shown, no folder kept."""
    home, _ = served
    other_app = pg_server.new_database()
    pg_server.sql("CREATE TABLE invoices (id int); CREATE TABLE customers (id int)", database=other_app)
    password = pg_server.url("x").split(":")[2].split("@")[0]
    cases = [
        (pg_server.url(other_app).replace(str(pg_server.port), "1"), "Connection refused; is the PostgreSQL server running"),
        (pg_server.url(other_app, password="wrong-password"), "password authentication failed"),
        (pg_server.url("no_such_db"), 'database "no_such_db" does not exist; create the database first'),
        (pg_server.url(other_app), "holds 2 tables of another application (customers, invoices)"),
        ("mysql://u:hunter2@localhost/x", "only postgresql:// (psycopg 3) and sqlite:/// URLs are supported"),
        (f"sqlite:///{home}/catalog.db", "database_url: only postgresql:// URLs"),
        ("postgresql://u:hunter2@localhost", "names no database"),
    ]
    with TestClient(create_app(home, TOKEN, worker=False)) as c:
        for i, (url, message) in enumerate(cases):
            res = c.post("/api/catalogs", json={"name": f"bad {i}", "database_url": url}, headers=AUTH)
            assert_error(res, 422, "invalid")
            text = res.json()["error"]["message"]
            assert message in text and "\n" not in text, text
            assert password not in res.text and "wrong-password" not in res.text and "hunter2" not in res.text
            assert not (home / "catalogs" / f"bad-{i}").exists()
        assert_error(c.post("/api/catalogs", json={"name": "empty", "database_url": ""}, headers=AUTH), 422, "invalid")
        assert [i["id"] for i in c.get("/api/catalogs", headers=AUTH).json()["items"]] == ["default"]
