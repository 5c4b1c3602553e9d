"""`lumina catalog copy` (issue 16 item 4) on a real PostgreSQL server (tests/postgres.py): the corpus
catalog moved SQLite (or the backend under test) -> PostgreSQL -> a new SQLite folder keeps every row,
its ids and its gap report; a non-empty target is refused unless forced."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from lumina.analysis.gaps import gap_report
from lumina.catalog.copy import row_counts
from lumina.catalog.db import open_catalog
from lumina.catalog.models import DuplicateGroup
from lumina.cli.main import app


def _lumina(*args: str):
    return CliRunner().invoke(app, list(args))


def _report(cat) -> dict:
    r = gap_report(cat, with_assets=True)
    r.pop("catalog")  # the folder's path
    return r


def test_corpus_catalog_moves_to_postgresql_and_back(corpus_catalog, pg_server, tmp_path, monkeypatch):
    monkeypatch.delenv("LUMINA_DATABASE_URL", raising=False)
    url = pg_server.url(pg_server.new_database())
    before_report = _report(corpus_catalog)  # first: a report brings the gap summary (and its state row) up to date
    before_counts = row_counts(corpus_catalog)
    assert before_counts["assets"] > 400 and before_counts["stage_records"] > 3000

    pg_dir, back_dir = tmp_path / "pg", tmp_path / "back"
    out = _lumina("catalog", "copy", "--from", str(corpus_catalog.path), "--to", url, "--to-catalog", str(pg_dir))
    assert out.exit_code == 0, out.output
    n = before_counts["stage_records"]
    assert "counts match" in out.output and re.search(rf"^stage_records +{n} +{n}$", out.output, re.M)
    pg = open_catalog(pg_dir, create=False)
    assert pg.backend == "postgresql"
    assert row_counts(pg) == before_counts
    assert _report(pg) == before_report
    # thumbnails came along to the new folder: the same relative files exist
    assert len(list((pg_dir / "thumbnails").rglob("*.webp"))) == len(list((corpus_catalog.path / "thumbnails").rglob("*.webp"))) > 200
    with corpus_catalog.session() as s, pg.session() as p:  # ids kept, and the sequences continue after them
        assert sorted(s.scalars(DuplicateGroup.__table__.select().with_only_columns(DuplicateGroup.id))) == \
               sorted(p.scalars(DuplicateGroup.__table__.select().with_only_columns(DuplicateGroup.id)))
        largest = max(p.scalars(DuplicateGroup.__table__.select().with_only_columns(DuplicateGroup.id)))
        p.add(DuplicateGroup(generation_id=1, group_class="exact", reason="test", keeper_asset_id="x" * 64,
                             keeper_reason="test"))
        p.flush()
        assert max(p.scalars(DuplicateGroup.__table__.select().with_only_columns(DuplicateGroup.id))) == largest + 1
        p.rollback()
    pg.close()

    out = _lumina("catalog", "copy", "--from", str(pg_dir), "--to", str(back_dir))
    assert out.exit_code == 0, out.output
    back = open_catalog(back_dir, create=False)
    assert back.backend == "sqlite" and row_counts(back) == before_counts
    assert _report(back) == before_report
    back.close()

    # a second copy into the same target is refused (nothing written), and replaces it with --force
    again = _lumina("catalog", "copy", "--from", str(pg_dir), "--to", str(back_dir))
    assert again.exit_code != 0 and "not empty" in again.output and "--force" in again.output
    forced = _lumina("catalog", "copy", "--from", str(pg_dir), "--to", str(back_dir), "--force")
    assert forced.exit_code == 0, forced.output
    back = open_catalog(back_dir, create=False)
    assert row_counts(back) == before_counts
    back.close()
