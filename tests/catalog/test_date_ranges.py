"""Date ranges on timestamp columns (issue 16): the local wall-clock period of each capture time
(``capture_start_local``/``capture_end_local``), filled by the dates stage and by migration 0017,
and every date-range query (image list, timeline, search facts) reading it. Runs on SQLite and,
with ``--backend postgresql``, on a real PostgreSQL server.

The library is five real eval-set photos: three with an EXIF DateTimeOriginal, and two whose dates
were stripped (``stripped/``), placed in a month folder and a day folder so that the dates stage
can only date them to that month or that day (flags ``month_only``/``date_only``)."""

from __future__ import annotations

import shutil
from datetime import datetime

import pytest
from sqlalchemy import select

from lumina.catalog.db import HEAD_REVISION, alembic_config, open_catalog
from lumina.catalog.models import CaptureDate, FileInstance
from lumina.catalog.queries import list_assets, timeline
from lumina.errors import ConfigError
from lumina.pipeline.scan import scan
from lumina.stages.dates import MAX_PERIOD, PERIOD_FLAGS, capture_period, iso_period

# eval-set file -> where it goes in the library (its folder names a date only for the stripped ones)
LIBRARY = {"originals/Apple iPhone 4.jpg": "iphone4.jpg",  # EXIF 2011:01:13 14:33:39
           "originals/Canon EOS 7D.jpg": "canon7d.jpg",  # EXIF 2010:12:12 12:41:35
           "originals/Blackberry Z10.jpg": "z10.jpg",  # EXIF 2013:08:17 18:54:52
           "stripped/FLIR Vue Pro 640.jpg": "2011-01 Holiday/flir.jpg",  # no date tags: January 2011
           "stripped/IMG_1034.jpg": "2011-01-13/img1034.jpg"}  # no date tags: 13 January 2011


@pytest.fixture(scope="module")
def dated(eval_dev, tmp_path_factory, session_database):
    """(catalog, {file name: asset id}) of the five-photo library, scanned once (on PostgreSQL into a
    database of its own: a module's catalog is made before any test's LUMINA_DATABASE_URL)."""
    lib = tmp_path_factory.mktemp("dated-library")
    for src, dest in LIBRARY.items():
        (lib / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(eval_dev / src, lib / dest)
    cat = open_catalog(tmp_path_factory.mktemp("dated-catalog"), database_url=session_database())
    scan(cat, [lib])
    with cat.session() as s:
        ids = {p.rsplit("/", 1)[1]: a for p, a in s.execute(select(FileInstance.path, FileInstance.asset_id))}
    yield cat, ids
    cat.close()


def names(cat, ids, **filters) -> set[str]:
    by_id = {a: n for n, a in ids.items()}
    with cat.session() as s:
        return {by_id[i["asset_id"]] for i in list_assets(s, filters, limit=500)["items"]}


def test_iso_prefixes_name_periods():
    """Each ISO 8601 prefix is the period its digits name; the end is exclusive."""
    assert iso_period("2019") == (datetime(2019, 1, 1), datetime(2020, 1, 1))
    assert iso_period("2019-12") == (datetime(2019, 12, 1), datetime(2020, 1, 1))
    assert iso_period("2016-02-29") == (datetime(2016, 2, 29), datetime(2016, 3, 1))
    assert iso_period("2019-06-01T23") == (datetime(2019, 6, 1, 23), datetime(2019, 6, 2))
    assert iso_period("2019-06-01T10:59:59") == (datetime(2019, 6, 1, 10, 59, 59), datetime(2019, 6, 1, 11))
    assert iso_period("2019-06-01T10:00:00.12") == (datetime(2019, 6, 1, 10, 0, 0, 120000),
                                                   datetime(2019, 6, 1, 10, 0, 0, 130000))
    # nanoseconds (QuickTime, some phones): cut to the columns' microsecond, a 1 µs period
    assert iso_period("2019-06-01T10:00:00.123456789") == (datetime(2019, 6, 1, 10, 0, 0, 123456),
                                                          datetime(2019, 6, 1, 10, 0, 0, 123457))
    assert iso_period("9999") == (datetime(9999, 1, 1), None)
    for bad in ("2019-02-30", "2019-6", "19", "2019-06-01 10:00", "2019-06-01T10:00:00Z"):
        with pytest.raises(ValueError):
            iso_period(bad)
    # a capture time dated only to its month or day by its source stands for that whole period
    assert capture_period("2011-01-01T00:00:00", ["month_only", "estimated"]) == (datetime(2011, 1, 1), datetime(2011, 2, 1))
    assert capture_period("2011-01-13T00:00:00", ["date_only"]) == (datetime(2011, 1, 13), datetime(2011, 1, 14))
    assert all(end - start <= MAX_PERIOD for start, end in (capture_period(f"2011-{m:02d}-01T00:00:00", [flag])
                                                           for m in range(1, 13) for flag in PERIOD_FLAGS))
    assert capture_period(None, []) == (None, None)


def test_dates_stage_writes_the_periods(dated):
    """The stage's timestamps are the period of the displayed string, which stays as it was."""
    cat, ids = dated
    with cat.session() as s:
        rows = {r.asset_id: r for r in s.scalars(select(CaptureDate))}
    iphone, flir, day = rows[ids["iphone4.jpg"]], rows[ids["flir.jpg"]], rows[ids["img1034.jpg"]]
    assert iphone.capture_time == "2011-01-13T14:33:39"
    assert (iphone.capture_start_local, iphone.capture_end_local) == (datetime(2011, 1, 13, 14, 33, 39),
                                                                      datetime(2011, 1, 13, 14, 33, 40))
    assert flir.capture_time == "2011-01-01T00:00:00" and "month_only" in flir.flags
    assert (flir.capture_start_local, flir.capture_end_local) == (datetime(2011, 1, 1), datetime(2011, 2, 1))
    assert day.capture_time == "2011-01-13T00:00:00" and "date_only" in day.flags
    assert (day.capture_start_local, day.capture_end_local) == (datetime(2011, 1, 13), datetime(2011, 1, 14))
    assert all(r.capture_start_local is not None for r in rows.values()) and len(rows) == 5


def test_date_filters_match_the_period_of_each_photo(dated):
    """A photo matches when its period overlaps the filter's: the January-2011 photo (month folder)
    is in any range that touches January 2011, also after the 1st (as a string it was not)."""
    cat, ids = dated
    everything = {"iphone4.jpg", "canon7d.jpg", "z10.jpg", "flir.jpg", "img1034.jpg"}
    assert names(cat, ids) == everything
    assert names(cat, ids, date_from="2011-01-13", date_to="2011-01-13") == {"iphone4.jpg", "flir.jpg", "img1034.jpg"}
    assert names(cat, ids, date_from="2011-01-14") == {"flir.jpg", "z10.jpg"}
    assert names(cat, ids, date_from="2011-02") == {"z10.jpg"}
    assert names(cat, ids, date_to="2010") == {"canon7d.jpg"}
    assert names(cat, ids, date_to="2010-12-31T23:59:59") == {"canon7d.jpg"}
    assert names(cat, ids, date_from="2011", date_to="2011") == {"iphone4.jpg", "flir.jpg", "img1034.jpg"}
    # to the second: the second of the shutter is in, the one before is not
    assert names(cat, ids, date_from="2011-01-13T14:33:39", date_to="2011-01-13T14:33:39") == \
        {"iphone4.jpg", "flir.jpg", "img1034.jpg"}
    assert "iphone4.jpg" not in names(cat, ids, date_to="2011-01-13T14:33:38")
    assert "iphone4.jpg" not in names(cat, ids, date_from="2011-01-13T14:33:40")
    assert names(cat, ids, date_from="2014") == set() and names(cat, ids, date_to="9999") == everything
    with cat.session() as s:
        page = list_assets(s, {"date_from": "2011-01", "date_to": "2011-01"}, limit=500, total=True)
        assert page["total"] == 3 and [i["capture_time"] for i in page["items"]] == \
            ["2011-01-01T00:00:00", "2011-01-13T00:00:00", "2011-01-13T14:33:39"]  # the string, as displayed
        with pytest.raises(ConfigError, match="date_from: '2011-02-30' is not a date that exists"):
            list_assets(s, {"date_from": "2011-02-30"})
        with pytest.raises(ConfigError, match="date_to: '13 January' is not an ISO 8601 date"):
            list_assets(s, {"date_to": "13 January"})


def test_pages_follow_the_capture_order(dated):
    """Keyset pages of two walk the grid's order (capture start, then id) without a gap or repeat."""
    cat, ids = dated
    by_id = {a: n for n, a in ids.items()}
    with cat.session() as s:
        whole = [i["asset_id"] for i in list_assets(s, {}, limit=500)["items"]]
        walked, cursor = [], None
        while True:
            page = list_assets(s, {}, cursor=cursor, limit=2)
            walked += [i["asset_id"] for i in page["items"]]
            if not (cursor := page["next_cursor"]):
                break
    assert walked == whole and [by_id[a] for a in whole] == ["canon7d.jpg", "flir.jpg", "img1034.jpg", "iphone4.jpg",
                                                             "z10.jpg"]


def test_timeline_counts_months_of_the_timestamps(dated):
    cat, _ = dated
    with cat.session() as s:
        assert timeline(s, {}) == [{"year": 2010, "month": 12, "count": 1}, {"year": 2011, "month": 1, "count": 3},
                                   {"year": 2013, "month": 8, "count": 1}]
        assert timeline(s, {"date_from": "2011"}) == [{"year": 2011, "month": 1, "count": 3},
                                                      {"year": 2013, "month": 8, "count": 1}]


def test_migration_fills_the_periods_of_existing_rows(dated):
    """Down to 0016 (the columns dropped) and up again: migration 0017 parses every stored capture
    time and gives the same timestamps as the dates stage wrote."""
    from alembic import command

    cat, _ = dated
    query = select(CaptureDate.asset_id, CaptureDate.capture_start_local, CaptureDate.capture_end_local)
    with cat.session() as s:
        before = set(s.execute(query).all())
    for target in ("0016", HEAD_REVISION):
        with cat.engine.begin() as conn:
            cfg = alembic_config(cat.engine.url.render_as_string(hide_password=False))
            cfg.attributes["connection"] = conn
            (command.downgrade if target == "0016" else command.upgrade)(cfg, target)
    with cat.session() as s:
        assert set(s.execute(query).all()) == before and len(before) == 5
