"""The gap report's per-asset summary (migration 0018: triggers mark changed assets, the report
profiles only those): after every write path that changes what the report reads, the report from
the summary is exactly the report computed straight from the stage rows (``summary=False``, the
previous query), on a copy of the corpus catalog and on a synthetic catalog."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from alembic import command
from sqlalchemy import delete, func, select, update

from lumina.analysis.gaps import gap_report
from lumina.catalog.copy import copy_rows
from lumina.catalog.db import alembic_config, open_catalog
from lumina.catalog.models import Asset, FileInstance, GapAssetProfile, GapDirty, StageRecord, Thumbnail
from lumina.catalog.writes import upsert
from lumina.pipeline.overrides import set_override
from lumina.pipeline.scan import now, scan
from lumina.pipeline.trash import restore, trash_paths

ROOT = Path(__file__).resolve().parents[2]


def _same_as_direct(cat) -> dict:
    """Assert both reports (plain and with asset ids) agree with the direct query; the plain one."""
    for with_assets in (False, True):
        fast = gap_report(cat, with_assets=with_assets)
        assert fast == gap_report(cat, with_assets=with_assets, summary=False)
    with cat.session() as s:  # the summary is current: nothing left marked, one row per counted asset
        assert s.scalar(select(func.count()).select_from(GapDirty)) == 0
        assert s.scalar(select(func.count()).select_from(GapAssetProfile)) == fast["total_assets"]
    return fast


def test_a_scan_leaves_the_summary_current(corpus, tmp_path):
    """`lumina scan` brings the summary up to date at its end, before any report: nothing is left
    marked, every asset with a present file has its profile, and the report equals the direct query."""
    lib = tmp_path / "lib"
    lib.mkdir()
    for photo in sorted(corpus.rglob("*.jpg"))[:4]:
        shutil.copy2(photo, lib / photo.name)
    cat = open_catalog(tmp_path / "cat")
    try:
        scan(cat, [lib])
        with cat.session() as s:
            assert s.scalar(select(func.count()).select_from(GapDirty)) == 0
            assert s.scalar(select(func.count()).select_from(GapAssetProfile)) == 4
        assert gap_report(cat) == gap_report(cat, summary=False)
    finally:
        cat.close()


def _present_ok_asset(s, offset: int = 0) -> tuple[str, FileInstance]:
    row = s.scalars(select(FileInstance).join(StageRecord, StageRecord.asset_id == FileInstance.asset_id)
                    .where(FileInstance.status == "present", StageRecord.stage == "thumbnails",
                           StageRecord.status == "ok", FileInstance.path.like("%.jpg"))
                    .order_by(FileInstance.path_bytes).offset(offset).limit(1)).one()
    return row.asset_id, row


def test_summary_follows_every_write_path(corpus_catalog, tmp_path, monkeypatch):
    cat = open_catalog(tmp_path / "copy")
    copy_rows(corpus_catalog, cat)  # the copy's own triggers mark every asset it writes
    with cat.session() as s:
        assert s.scalar(select(func.count()).select_from(GapDirty)) == s.scalar(select(func.count()).select_from(Asset))
    base = _same_as_direct(cat)

    # a stage result re-written: thumbnails failed for two assets (records upserted, rows gone)
    with cat.session() as s:
        ids = [_present_ok_asset(s, i)[0] for i in (0, 1)]
        upsert(s, StageRecord, [{"asset_id": a, "stage": "thumbnails", "version": 1, "params_hash": "x",
                                 "status": "failed", "error": "decode_error: test", "duration_ms": 1.0,
                                 "finished_at": now()} for a in ids])
        s.execute(delete(Thumbnail).where(Thumbnail.asset_id.in_(ids)))
        s.commit()
    report = _same_as_direct(cat)
    thumbs = {m["type"]: m for m in report["metadata"]}["thumbnails"]
    assert thumbs["count"] == {m["type"]: m for m in base["metadata"]}["thumbnails"]["count"] - 2
    assert thumbs["reasons"]["thumbnails failed: decode_error"] >= 2

    # a user override (set-date's path: stored, its readers re-run)
    with cat.session() as s:
        target = _present_ok_asset(s, 2)[0]
    set_override(cat, target, "gps", {"latitude": 48.85, "longitude": 2.35})
    _same_as_direct(cat)

    # the only file of an asset goes missing (a rescan's update), then comes back
    with cat.session() as s:
        gone, row = _present_ok_asset(s, 3)
        s.execute(update(FileInstance).where(FileInstance.asset_id == gone).values(status="missing"))
        s.commit()
    assert _same_as_direct(cat)["total_assets"] == base["total_assets"] - 1
    with cat.session() as s:
        s.execute(update(FileInstance).where(FileInstance.asset_id == gone).values(status="present"))
        s.commit()
    assert _same_as_direct(cat)["total_assets"] == base["total_assets"]

    # trash and restore: a real file (a copy of the corpus photo the row points at) moved and back
    with cat.session() as s:
        asset, row = _present_ok_asset(s, 4)
        library = tmp_path / "library"
        library.mkdir()
        moved = library / Path(row.path).name
        shutil.copy2(row.path, moved)
        s.execute(update(FileInstance).where(FileInstance.id == row.id).values(path_bytes=bytes(moved), path=str(moved)))
        s.commit()
        others = s.scalar(select(func.count()).select_from(FileInstance)
                          .where(FileInstance.asset_id == asset, FileInstance.status == "present"))
    assert _same_as_direct(cat)["files"] == base["files"]
    entry = trash_paths(cat, [str(moved)], "test", folder=tmp_path / "trash")[0]
    assert _same_as_direct(cat)["total_assets"] == base["total_assets"] - (others == 1)
    restore(cat, [entry["id"]])
    assert _same_as_direct(cat)["total_assets"] == base["total_assets"]

    # migrations back-fill an existing catalog: the summary dropped (down to 0017) and migrated again
    with cat.engine.begin() as conn:  # as db.migrate runs alembic: on this connection, closed after
        cfg = alembic_config(cat.engine.url.render_as_string(hide_password=False))
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0017")
    cat.close()
    cat = open_catalog(tmp_path / "copy", create=False)
    with cat.session() as s:
        assert s.scalar(select(func.count()).select_from(GapDirty)) == s.scalar(select(func.count()).select_from(Asset))
    _same_as_direct(cat)
    cat.close()


def test_summary_on_a_synthetic_catalog(tmp_path):
    """Synthetic rows (benchmarks/bench_scale.py's: every file type, cameras and none, GPS, rejected
    0,0 placeholders, estimated dates, decode and ExifTool failures, degenerate hashes, bursts,
    pending semantic stages, failed files), because the corpus holds few of each and no rejected
    placeholder without a position; then a changed 1 %, under a summary built by the first report."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import bench_scale
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    cat = open_catalog(tmp_path / "synthetic")
    bench_scale.load(cat, 3_000)
    report = _same_as_direct(cat)
    gps = {m["type"]: m for m in report["metadata"]}["gps"]["reasons"]
    assert gps["GPS rejected: placeholder 0,0"] > 0
    bench_scale.touch_stage_records(cat, 30)
    changed = _same_as_direct(cat)
    assert {j["stage"]: j["pending"] for j in changed["job_order"]}["dates"] >= 30  # a newer prerequisite
    cat.close()
