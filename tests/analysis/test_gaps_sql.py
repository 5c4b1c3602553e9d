"""The gap report counted by the database (issue 17 item 3, issue 16): its pending counts follow the
planner exactly, also after a prerequisite or a user override changed and under changed settings, and
its grouped counts agree with its per-asset rows and with direct queries of the stage records."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from lumina.analysis.gaps import gap_report
from lumina.catalog.copy import copy_rows
from lumina.catalog.db import open_catalog
from lumina.catalog.models import FileInstance, StageRecord, UserOverride
from lumina.errors import error_kind
from lumina.pipeline.runner import asset_views, plan
from lumina.pipeline.scan import now
from lumina.stages import STAGES, make_stage


def _planner_counts(cat) -> dict[str, int]:
    with cat.session() as s:
        views = asset_views(s)
        return {name: len(plan(s, make_stage(name, cat.settings), views)) for name in STAGES}


def _pending(cat) -> dict[str, int]:
    return {j["stage"]: j["pending"] for j in gap_report(cat)["job_order"] if j["stage"] in STAGES}


def test_pending_counts_follow_the_planner(corpus_catalog, tmp_path, monkeypatch):
    monkeypatch.delenv("LUMINA_DATABASE_URL", raising=False)
    assert _pending(corpus_catalog) == _planner_counts(corpus_catalog)
    # changed parameters make every record of that stage stale but the failed ones (not retried)
    changed = corpus_catalog.with_settings({"thumbnail_grid_px": 300, "geohash_precision": 7})
    pending = _pending(changed)
    assert pending == _planner_counts(changed)
    assert pending["thumbnails"] > 200 and pending["geo"] > 400 and pending["hashes"] == _pending(corpus_catalog)["hashes"]

    # a newer prerequisite record and a user override newer than the records (on a copy of the catalog)
    cat = open_catalog(tmp_path / "copy")
    copy_rows(corpus_catalog, cat)
    with cat.session() as s:
        ids = sorted(s.scalars(select(StageRecord.asset_id).where(StageRecord.stage == "metadata",
                                                                  StageRecord.status == "ok")))[:7]
        later = now() + timedelta(minutes=5)
        s.execute(update(StageRecord).where(StageRecord.asset_id.in_(ids[:4]), StageRecord.stage == "metadata")
                  .values(finished_at=later))
        s.add(UserOverride(asset_id=ids[5], field="gps", value={"latitude": 1.0, "longitude": 2.0}, set_at=later))
        # an asset whose only file went missing leaves every count
        s.execute(update(FileInstance).where(FileInstance.asset_id == ids[6]).values(status="missing"))
        s.commit()
    pending = _pending(cat)
    assert pending == _planner_counts(cat)
    assert pending["dates"] >= 5 and pending["geo"] >= 5  # metadata is their prerequisite; gps is read by both
    assert gap_report(cat)["total_assets"] == gap_report(corpus_catalog)["total_assets"] - 1
    cat.close()


def test_grouped_counts_agree_with_per_asset_rows_and_records(corpus_catalog):
    plain, listed = gap_report(corpus_catalog), gap_report(corpus_catalog, with_assets=True)
    for row, with_ids in zip(plain["metadata"], listed["metadata"]):
        assert row["reasons"] == {r: len(ids) for r, ids in with_ids["reason_assets"].items()}
        assert {k: v for k, v in with_ids.items() if k != "reason_assets"} == row
    with corpus_catalog.session() as s:
        present = select(FileInstance.asset_id).where(FileInstance.status == "present")
        failed = [e for e in s.scalars(select(StageRecord.error).where(
            StageRecord.stage == "thumbnails", StageRecord.status == "failed", StageRecord.asset_id.in_(present)))]
    rows = {m["type"]: m for m in plain["metadata"]}
    kinds = {f"thumbnails failed: {error_kind(e)}" for e in failed}
    assert rows["thumbnails"]["reasons"] == {k: sum(1 for e in failed if f"thumbnails failed: {error_kind(e)}" == k)
                                             for k in kinds}
    assert plain["failures"]["by_stage"]["thumbnails"] == {
        k.removeprefix("thumbnails failed: "): n for k, n in rows["thumbnails"]["reasons"].items()}
