"""The grid's filters (#16): a page is found by walking the capture-time index or from the asset ids
of the indexed filters (country, city, geohash, camera, failed stage, asset ids), and both ways
give exactly the pages a plain reading of every asset gives, on the whole real corpus. Runs on
SQLite and, with ``--backend postgresql``, on a real PostgreSQL server."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from lumina.catalog.models import Asset, CaptureDate, ChangeLog, FileInstance, Metadata, Place, StageRecord
from lumina.catalog.queries import ANY_MODEL, Scope, camera_matches, list_assets, positions, timeline
from lumina.errors import ConfigError
from tests.conftest import copy_files


@pytest.fixture(scope="module")
def rows(corpus_catalog):
    """Every asset with a present file: {asset_id: facts}, read with plain selects, no filter SQL."""
    with corpus_catalog.session() as s:
        present = set(s.scalars(select(FileInstance.asset_id).where(FileInstance.status == "present")))
        out = {a: {"file_type": t, "status": st} for a, t, st in s.execute(select(Asset.asset_id, Asset.file_type, Asset.status))
               if a in present}
        for a, start in s.execute(select(CaptureDate.asset_id, CaptureDate.capture_start_local)):
            if a in out:
                out[a]["start"] = start
        for a, make, model in s.execute(select(Metadata.asset_id, Metadata.camera_make, Metadata.camera_model)):
            if a in out:
                out[a].update(make=make, model=model)
        for a, lat, gh, cc, city in s.execute(select(Place.asset_id, Place.gps_latitude, Place.geohash, Place.country_code,
                                                      Place.city)):
            if a in out:
                out[a].update(lat=lat, geohash=gh, country=cc, city=city)
        for a, stage in s.execute(select(StageRecord.asset_id, StageRecord.stage).where(StageRecord.status == "failed")):
            if a in out:
                out[a].setdefault("failed", set()).add(stage)
    return out


def expected(rows, filters) -> list[str]:
    """The asset ids matching ``filters``, in the grid's order (dated by capture start and id, then
    undated by id), computed in Python."""
    def match(r) -> bool:
        for key, value in filters.items():
            if key == "country" and r.get("country") != value.upper():
                return False
            if key == "city" and r.get("city") != value:
                return False
            if key == "geohash" and not (r.get("geohash") or "").startswith(value.lower()):
                return False
            if key == "camera" and not any(value.casefold() in (v or "").casefold() for v in (r.get("make"), r.get("model"))):
                return False
            if key == "has_gps" and (r.get("lat") is not None) != value:
                return False
            if key == "file_type" and r["file_type"] != value:
                return False
            if key == "failed_stage" and not (r.get("failed") and (value == "any" or value in r["failed"])):
                return False
            if key == "asset_ids" and r["id"] not in value:
                return False
        return True

    hits = [r for r in ({**r, "id": a} for a, r in rows.items()) if match(r)]
    dated = sorted((r["start"], r["id"]) for r in hits if r.get("start") is not None)
    return [a for _, a in dated] + sorted(r["id"] for r in hits if r.get("start") is None)


def pages(cat, filters, limit: int, plan: str | None) -> tuple[list[str], int]:
    """Every page of ``limit`` under ``filters`` by cursor: (asset ids in order, the first page's total)."""
    out, cursor, total = [], None, None
    with cat.session() as s:
        while True:
            page = list_assets(s, filters, cursor=cursor, limit=limit, total=cursor is None, plan=plan)
            total = page["total"] if cursor is None else total
            out += [i["asset_id"] for i in page["items"]]
            assert len(page["items"]) <= limit
            if not (cursor := page["next_cursor"]):
                return out, total


def filter_sets(rows) -> list[dict]:
    """Filters and pairs of filters with values taken from the corpus: common ones, rare ones, and
    values no photo has."""
    countries = Counter(r["country"] for r in rows.values() if r.get("country"))
    cities = Counter(r["city"] for r in rows.values() if r.get("city"))
    geohashes = Counter(r["geohash"][:3] for r in rows.values() if r.get("geohash"))
    common_country, rare_country = countries.most_common()[0][0], countries.most_common()[-1][0]
    some = sorted(rows)[::40]
    return [{"country": common_country.lower()}, {"country": rare_country}, {"country": "AQ"},
            {"city": cities.most_common()[0][0]}, {"city": "Nowhere"},
            {"geohash": geohashes.most_common()[0][0].upper()}, {"geohash": "zzzz"},
            {"geohash": geohashes.most_common()[0][0][:1] + "%"}, {"geohash": "\U0010ffff"},
            {"camera": "apple"}, {"camera": "CANON"}, {"camera": "e"}, {"camera": "%_"}, {"camera": "no such camera"},
            {"failed_stage": "any"}, {"failed_stage": "hashes"}, {"asset_ids": some},
            {"country": common_country, "camera": "apple"}, {"camera": "e", "has_gps": True},
            {"camera": "e", "file_type": "jpeg"}, {"geohash": geohashes.most_common()[0][0], "camera": "i"},
            {"failed_stage": "any", "file_type": "jpeg"}, {"asset_ids": some, "camera": "a"}]


def test_both_ways_give_the_pages_of_a_plain_reading(corpus_catalog, rows):
    """For every filter set, paging by 7 (many pages) the walk, the id sets and the automatic choice
    give the expected ids in order, each once, with the expected total."""
    assert len(rows) > 300
    for filters in filter_sets(rows):
        want = expected(rows, filters)
        for plan in ("walk", "ids", None):
            got, total = pages(corpus_catalog, filters, 7, plan)
            assert got == want, (filters, plan, len(got), len(want))
            assert total == len(want), (filters, plan)
    assert any(expected(rows, f) for f in filter_sets(rows)[:3])  # the corpus has a country: not all empty


def test_timeline_and_map_positions_read_the_id_sets(corpus_catalog, rows):
    """The timeline's months and the map's positions under an id-set filter count what the
    plain reading counts."""
    for filters in ({"camera": "apple"}, {"country": filter_sets(rows)[0]["country"]}, {"camera": "e", "has_gps": True}):
        want = expected(rows, filters)
        with corpus_catalog.session() as s:
            months = timeline(s, filters)
            spots = positions(s, filters)
        dated = Counter((rows[a]["start"].year, rows[a]["start"].month) for a in want if rows[a].get("start"))
        assert {(m["year"], m["month"]): m["count"] for m in months} == dated, filters
        assert sorted(p[0] for p in spots) == sorted(a for a in want if rows[a].get("lat") is not None), filters


def test_camera_text_resolves_to_the_catalogs_cameras(corpus_catalog, rows):
    """The loose index scan finds every distinct camera; the text matches make or model as a
    case-insensitive substring (a make that matches takes all its models)."""
    cameras = {(r.get("make"), r.get("model")) for r in rows.values() if r.get("make") or r.get("model")}
    makes = {m for m, _ in cameras if m}
    with corpus_catalog.session() as s:
        everything = camera_matches(s, "")
        assert {m for m, _ in everything} >= makes and len(makes) > 5
        for text in ("apple", "PHONE", "d7", "x"):
            found = camera_matches(s, text)
            named = {(m, mo) for m, mo in cameras
                     if text.casefold() in (m or "").casefold() or text.casefold() in (mo or "").casefold()}
            matched = {(m, mo) for m, mo in cameras if (m, ANY_MODEL) in found or (m, mo) in found}
            assert matched == named and named, text


def test_the_choice_follows_the_sizes(corpus_catalog, rows):
    """The id sets are counted in their indexes; a filter without one is walked; a few ids are read
    from their set; a camera text most photos match is walked for a small page and read from its
    ids for a large one (the walk reads about (limit + 1) / share assets, the ids their count)."""
    n = len(expected(rows, {"camera": "e"}))
    with corpus_catalog.session() as s:
        scope = Scope(s, {"camera": "e"})
        assert scope.id_sets[0][:2] == (n, "camera")
        assert n > 2 / (n / len(rows))  # more photos than a page of one costs to walk
        assert not scope.by_ids(s, limit=1) and scope.by_ids(s, limit=500)
        assert not Scope(s, {"has_gps": True}).by_ids(s, limit=1)
        assert Scope(s, {"asset_ids": sorted(rows)[:3]}).by_ids(s, limit=100)
        assert Scope(s, {"camera": "no such camera"}).empty
        with pytest.raises(ConfigError):
            list_assets(s, {"camera": "apple"}, plan="sideways")


def test_id_set_pages_follow_changes_of_the_catalog(eval_dev, tmp_path):
    """The id-set plan keeps each filter's ordered matches while the catalog is unchanged (reading
    pages writes nothing); a photo added and scanned is on the next request, in capture order, and
    one removed from the library is gone. An unchanged rescan empties the change log: the catalog's
    version still never comes back to a value it had, so a list kept before a change is never used
    after it."""
    from lumina.catalog.db import open_catalog
    from lumina.catalog.queries import catalog_version
    from lumina.pipeline.scan import scan

    lib = tmp_path / "library"
    copy_files(eval_dev, lib, "originals/Canon EOS 7D.jpg", "originals/Canon PowerShot A85.jpg")
    cat = open_catalog(tmp_path / "catalog")

    def canon() -> list[str]:
        with cat.session() as s:
            names = {a: p.rsplit("/", 1)[1] for p, a in s.execute(select(FileInstance.path, FileInstance.asset_id))}
        return [names[a] for a in pages(cat, {"camera": "canon"}, 1, "ids")[0]]

    def version() -> tuple:
        with cat.session() as s:
            return catalog_version(s)

    try:
        scan(cat, [lib])
        scan(cat, [lib])  # unchanged: its plan mark empties the change log
        versions = [version()]
        assert canon() == ["Canon PowerShot A85.jpg", "Canon EOS 7D.jpg"]  # 2004, then 2010
        assert version() == versions[0]
        copy_files(eval_dev, lib, "originals/Canon EOS D60.jpg")  # 2002: first in capture order
        scan(cat, [lib])
        scan(cat, [lib])
        versions.append(version())
        assert canon() == ["Canon EOS D60.jpg", "Canon PowerShot A85.jpg", "Canon EOS 7D.jpg"]
        (lib / "Canon PowerShot A85.jpg").unlink()
        scan(cat, [lib])
        scan(cat, [lib])
        versions.append(version())
        assert canon() == ["Canon EOS D60.jpg", "Canon EOS 7D.jpg"]
        assert len(set(versions)) == 3, versions
        with cat.session() as s:
            assert s.scalar(select(func.count()).select_from(ChangeLog)) == 0  # the log was emptied each time
    finally:
        cat.close()


def test_nothing_is_kept_without_the_change_log_triggers(eval_dev, tmp_path):
    """A catalog whose change-log trigger was dropped (as an SQLite batch migration does) has no
    version: the id-set pages are read again on every request, and a change is seen at once."""
    from sqlalchemy import text

    from lumina.catalog.db import open_catalog
    from lumina.catalog.queries import catalog_version
    from lumina.pipeline.scan import scan

    lib = tmp_path / "library"
    copy_files(eval_dev, lib, "originals/Canon EOS 7D.jpg")
    cat = open_catalog(tmp_path / "catalog")
    try:
        scan(cat, [lib])
        with cat.session() as s:
            assert catalog_version(s) is not None
            pg = s.get_bind().dialect.name == "postgresql"
            s.execute(text("DROP TRIGGER files_changed ON files" if pg else "DROP TRIGGER files_insert_changed"))
            s.commit()
            assert catalog_version(s) is None
        assert len(pages(cat, {"camera": "canon"}, 1, "ids")[0]) == 1
        copy_files(eval_dev, lib, "originals/Canon EOS D60.jpg")
        scan(cat, [lib])
        assert len(pages(cat, {"camera": "canon"}, 1, "ids")[0]) == 2
    finally:
        cat.close()


def test_a_write_committed_after_a_later_one_moves_the_version(tmp_path, backend):
    """PostgreSQL: a writer holding a change-log id below the mark commits after the mark was read;
    the version read before its commit differs from the one after (the writers in flight are part of
    it). Work that cannot change the catalog does not move it: ANALYZE, as autovacuum runs it (it
    moved the first version of the key, the server's oldest running transaction, and made CI's run
    of the test above fail)."""
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time: its change-log ids grow in commit order")
    from sqlalchemy import text

    from lumina.catalog.db import open_catalog
    from lumina.catalog.queries import catalog_version

    cat = open_catalog(tmp_path / "catalog")
    first, second, reader = cat.session(), cat.session(), cat.session()
    try:
        first.execute(text("INSERT INTO catalog_state (key, value) VALUES ('first', '1')"))  # takes id N
        second.execute(text("INSERT INTO catalog_state (key, value) VALUES ('second', '2')"))  # takes id N + 1
        second.commit()
        during = catalog_version(reader)
        reader.commit()
        first.commit()
        after = catalog_version(reader)
        reader.commit()
        assert during[0] == after[0] and during != after  # same mark; the writer in flight has ended
        with cat.engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
        assert catalog_version(reader) == after
    finally:
        for s in (first, second, reader):
            s.close()
        cat.close()
