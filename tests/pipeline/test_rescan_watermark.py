"""Unchanged rescans skip planning (``lumina.pipeline.watermark``), and each kind of change still
redoes exactly its work: a new, changed or removed file, a changed setting, a user override or a
stale record written by another writer, ``force`` and ``retry_failed``.

One small library of real corpus photos (a JPEG with GPS, a rotated JPEG, a HEIC, a Canon JPEG),
scanned once for the module; each test first brings the catalog back to "nothing due" with a
rescan, changes one thing, and checks what the next rescan runs. Runs on both backends."""

import os
import shutil
from datetime import datetime

import pytest
from sqlalchemy import func, insert, select, update

from lumina.catalog.db import open_catalog
from lumina.catalog.models import ChangeLog, FileInstance, PlanMark, StageRecord, UserOverride
from lumina.pipeline import watermark
from lumina.pipeline.scan import now, scan
from lumina.stages import CATALOG_STAGES, STAGES, topological_order
from tests.conftest import copy_files

SAMPLE = ("exif-samples/jpg/Canon_40D.jpg", "exif-samples/jpg/gps/DSCN0010.jpg", "exif-samples/heic/IMG_5195.HEIC",
          "exif-samples/jpg/orientation/landscape_6.jpg")
ORDER = topological_order(None)
PER_ASSET = [n for n in ORDER if n in STAGES]
WIDE = [n for n in ORDER if n in CATALOG_STAGES]


@pytest.fixture(scope="module")
def library_catalog(corpus, tmp_path_factory, session_database):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LUMINA_SETTLE_S", "0")
        root = tmp_path_factory.mktemp("rescan")
        library = root / "library"
        copy_files(corpus, library, *SAMPLE)
        cat = open_catalog(root / "catalog", database_url=session_database())
        scan(cat, [library])
        yield cat, library
        cat.close()


def ran(counts) -> dict[str, int]:
    """Records written per stage by one scan (ok, failed or skipped: descriptions without an endpoint)."""
    return {name: sum(c.values()) for name, c in counts.stages.items() if sum(c.values())}


def is_unchanged(cat) -> bool:
    with cat.session() as s:
        return watermark.unchanged(s, ORDER, watermark.fingerprint(cat.settings, ORDER))


def settled(cat, library) -> None:
    """Rescan until one finds nothing due (at most twice: a run that redid work plans once more);
    afterwards the plan mark proves it."""
    for _ in range(2):
        if not ran(scan(cat, [library])):
            break
    assert is_unchanged(cat)


@pytest.fixture
def lib(library_catalog, monkeypatch):
    monkeypatch.setenv("LUMINA_SETTLE_S", "0")
    cat, library = library_catalog
    settled(cat, library)
    return cat, library


def present_assets(cat) -> int:
    with cat.session() as s:
        return s.scalar(select(func.count(func.distinct(FileInstance.asset_id))).where(FileInstance.status == "present"))


def test_unchanged_rescan_skips_planning_and_writes_nothing(lib):
    cat, library = lib
    with cat.session() as s:
        mark = s.get(PlanMark, "+".join(ORDER))
        records = s.scalar(select(func.count()).select_from(StageRecord))
        recorded_at = mark.recorded_at
    counts = scan(cat, [library])
    assert ran(counts) == {} and counts.unchanged == len(SAMPLE) and counts.new == counts.changed == 0
    assert set(counts.stages) == set(ORDER)
    with cat.session() as s:  # the skip neither planned again nor logged a change (last_seen_scan is not one)
        assert s.get(PlanMark, "+".join(ORDER)).recorded_at == recorded_at
        assert s.scalar(select(func.count()).select_from(ChangeLog)) == 0
        assert s.scalar(select(func.count()).select_from(StageRecord)) == records
        seen_by = dict(s.execute(select(FileInstance.path, FileInstance.last_seen_scan)).all())
    scan(cat, [library])
    with cat.session() as s:  # an unchanged file's row is not rewritten: last_seen_scan is the scan that recorded it
        assert dict(s.execute(select(FileInstance.path, FileInstance.last_seen_scan)).all()) == seen_by


def test_files_that_fail_or_are_skipped_on_every_scan_do_not_stop_the_skip(lib, tmp_path):
    """A dangling link and a FIFO are recorded again by every scan (failed, ignored); their rows do
    not change, so nothing is logged and the next rescan still skips planning."""
    cat, library = lib
    os.symlink(tmp_path / "gone.jpg", library / "dangling.jpg")
    os.mkfifo(library / "pipe.jpg")
    try:
        counts = scan(cat, [library])
        assert counts.failed + counts.ignored == 2
        settled(cat, library)
        counts = scan(cat, [library])
        assert counts.failed + counts.ignored == 2 and ran(counts) == {}
        with cat.session() as s:
            assert s.scalar(select(func.count()).select_from(ChangeLog)) == 0
        assert is_unchanged(cat)
    finally:
        (library / "dangling.jpg").unlink()
        (library / "pipe.jpg").unlink()


def test_new_file_runs_every_stage_on_it(lib, corpus):
    cat, library = lib
    copy_files(corpus, library / "new", "exif-samples/jpg/Nikon_D70.jpg")
    counts = scan(cat, [library])
    assert counts.new == 1
    assert ran(counts) == {**{n: 1 for n in PER_ASSET}, **{n: 1 for n in WIDE}}
    assert not is_unchanged(cat)  # a run that did work keeps no mark: the next one plans, finds nothing, marks
    assert ran(scan(cat, [library])) == {} and is_unchanged(cat)


def test_changed_file_runs_every_stage_on_its_new_content(lib, corpus):
    cat, library = lib
    target = library / os.path.basename(SAMPLE[3])
    data = target.read_bytes()
    target.write_bytes(data[:2] + b"\xff\xfe\x00\x0clumina test" + data[2:])  # a JPEG comment: new bytes, same pixels
    counts = scan(cat, [library])
    assert counts.changed == 1
    assert ran(counts) == {**{n: 1 for n in PER_ASSET}, **{n: 1 for n in WIDE}}


def test_removed_file_reruns_the_catalog_wide_stages_only(lib, tmp_path):
    cat, library = lib
    path = library / os.path.basename(SAMPLE[0])
    os.rename(path, tmp_path / path.name)
    counts = scan(cat, [library])
    assert counts.missing == 1
    assert ran(counts) == {n: 1 for n in WIDE}  # present files changed: groups and bursts follow
    os.rename(tmp_path / path.name, path)  # back: its asset keeps every record
    counts = scan(cat, [library])
    assert counts.changed == 1 and counts.new == 0  # a missing file back: re-read, the same asset
    assert ran(counts) == {n: 1 for n in WIDE}


def test_changed_setting_reruns_the_stage_that_reads_it(library_catalog, monkeypatch):
    cat, library = library_catalog
    monkeypatch.setenv("LUMINA_SETTLE_S", "0")
    settled(cat, library)
    other = open_catalog(cat.path, overrides={"date_conflict_s": float(cat.settings["date_conflict_s"]) + 1})
    try:
        assert not is_unchanged(other)
        counts = scan(other, [library])
        n = present_assets(other)
        # dates on every asset; descriptions and the catalog-wide stages read the dates records: they follow
        assert ran(counts) == {"dates": n, "descriptions": n, **{w: 1 for w in WIDE}}
        settled(other, library)
        assert not is_unchanged(cat)  # the mark is the other settings': the catalog's own plan again
    finally:
        other.close()
    settled(cat, library)  # back to the catalog's own settings: dates and descriptions once more
    assert ran(scan(cat, [library])) == {}


def test_override_written_by_another_writer_reruns_its_readers_on_that_asset(lib):
    cat, library = lib
    with cat.session() as s:  # as the API does while a job runs: the override row, no pipeline run
        aid = s.scalar(select(FileInstance.asset_id).where(FileInstance.status == "present").order_by(FileInstance.path))
        s.execute(insert(UserOverride).values(asset_id=aid, field="capture_time", set_at=now(),
                                              value={"value": "2001-02-03T04:05:06", "utc_offset_minutes": 60}))
        s.commit()
    assert not is_unchanged(cat)
    counts = scan(cat, [library])
    assert ran(counts) == {"dates": 1, "descriptions": 1, **{w: 1 for w in WIDE}}
    with cat.session() as s:
        s.execute(UserOverride.__table__.delete().where(UserOverride.asset_id == aid))
        s.execute(update(StageRecord).where(StageRecord.asset_id == aid, StageRecord.stage == "dates")
                  .values(params_hash="stale"))  # as overrides.set_override does when clearing one
        s.commit()
    assert ran(scan(cat, [library])) == {"dates": 1, "descriptions": 1, **{w: 1 for w in WIDE}}


def test_stale_record_marked_by_another_writer_is_redone(lib):
    cat, library = lib
    with cat.session() as s:
        aid = s.scalar(select(StageRecord.asset_id).where(StageRecord.stage == "quality", StageRecord.status == "ok")
                       .order_by(StageRecord.asset_id))
        s.execute(update(StageRecord).where(StageRecord.asset_id == aid, StageRecord.stage == "quality")
                  .values(params_hash="stale"))
        s.commit()
    counts = scan(cat, [library])
    assert ran(counts) == {"quality": 1, **{w: 1 for w in WIDE}}


def test_force_and_retry_failed_plan_in_full(lib):
    cat, library = lib
    n = present_assets(cat)
    counts = scan(cat, [library], force=datetime.max)  # as a job passes it: every result finished before
    assert ran(counts) == {**{s: n for s in PER_ASSET}, **{w: 1 for w in WIDE}}
    with cat.session() as s:
        aid = s.scalar(select(StageRecord.asset_id).where(StageRecord.stage == "hashes").order_by(StageRecord.asset_id))
        s.execute(update(StageRecord).where(StageRecord.asset_id == aid, StageRecord.stage == "hashes")
                  .values(status="failed", error="decode_error: made failed by the test"))
        s.commit()
    settled(cat, library)  # a failed record is not due without retry_failed: the mark holds
    assert ran(scan(cat, [library], retry_failed=True))["hashes"] == 1


def test_missing_trigger_disables_the_skip(lib):
    cat, library = lib
    drop, create = {
        "postgresql": ("DROP TRIGGER user_overrides_changed ON user_overrides",
                       "CREATE TRIGGER user_overrides_changed AFTER INSERT OR DELETE OR UPDATE ON user_overrides "
                       "FOR EACH STATEMENT EXECUTE FUNCTION lumina_log_change()"),
        "sqlite": ("DROP TRIGGER user_overrides_update_changed",
                   "CREATE TRIGGER user_overrides_update_changed AFTER UPDATE ON user_overrides "
                   "BEGIN INSERT INTO change_log (id) VALUES (NULL); END")}[cat.engine.dialect.name]
    from sqlalchemy import text

    with cat.engine.begin() as conn:
        conn.execute(text(drop))
    try:
        assert not is_unchanged(cat)
    finally:
        with cat.engine.begin() as conn:
            conn.execute(text(create))
    assert is_unchanged(cat)
