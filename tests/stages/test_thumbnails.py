"""Thumbnails, one decode per asset, and re-runs only when the source or the settings change."""

import os

import thumbhash
from PIL import Image
from sqlalchemy import select

from lumina.catalog.db import open_catalog
from lumina.catalog.models import StageRecord, Thumbnail
from lumina.catalog.queries import describe
from lumina.pipeline.runner import StageGroup, asset_views
from lumina.pipeline.scan import scan
from tests.conftest import copy_files

FILES = ("exif-samples/jpg/orientation/landscape_1.jpg", "exif-samples/jpg/orientation/landscape_6.jpg",
         "exif-samples/heic/IMG_5195.HEIC", "exif-samples/jpg/corrupted.jpg")


def test_thumbnails_files_and_thumbhash(corpus, tmp_path):
    lib = tmp_path / "lib"
    paths = copy_files(corpus, lib, *FILES)
    cat = open_catalog(tmp_path / "cat")
    scan(cat, [lib])
    with cat.session() as s:
        doc = describe(s, str(paths[2]))
        thumbs = {t.asset_id: t for t in s.scalars(select(Thumbnail))}
        sizes = {(describe(s, str(p))["thumbnails"]["grid_width"], describe(s, str(p))["thumbnails"]["grid_height"])
                 for p in paths[:2]}
    t = doc["thumbnails"]
    with Image.open(cat.path / t["grid_path"]) as grid, Image.open(cat.path / t["preview_path"]) as preview:
        assert grid.format == "WEBP" and max(grid.size) == 256 and grid.size == (t["grid_width"], t["grid_height"])
        assert preview.format == "JPEG" and max(preview.size) == 1440
        assert grid.height > grid.width  # the portrait iPhone photo stays portrait
        ratio = thumbhash.thumb_hash_to_approximate_aspect_ratio(list(thumbs[doc["asset_id"]].thumbhash))
        assert abs(ratio - grid.width / grid.height) < 0.1
    assert (cat.path / t["grid_path"]).stat().st_size == t["grid_bytes"]
    assert sizes == {(256, 192)}  # both orientation samples: the same displayed thumbnail
    cat.close()


def test_one_decode_feeds_every_pixel_stage(corpus, tmp_path):
    lib = tmp_path / "lib"
    copy_files(corpus, lib, *FILES)
    cat = open_catalog(tmp_path / "cat")
    scan(cat, [lib], run_stages=False)
    group = StageGroup(["thumbnails", "hashes", "quality"], cat.settings)
    with cat.session() as s:
        views = list(asset_views(s).values())
    results = group.run([(v, ("thumbnails", "hashes", "quality")) for v in views])
    assert group.decodes == len(views) == 4
    assert len(results) == 12
    failed = {(name, d.result.reason.split(":")[0]) for name, d in results if d.result.status == "failed"}
    assert failed == {("thumbnails", "decode_error"), ("hashes", "decode_error"), ("quality", "decode_error")} or \
        all(r.split(":")[0] in ("truncated", "decode_error") for _, r in failed)
    cat.close()


def test_not_regenerated_unless_settings_change(corpus, tmp_path):
    lib = tmp_path / "lib"
    copy_files(corpus, lib, *FILES[:2])
    cat = open_catalog(tmp_path / "cat")
    scan(cat, [lib])
    with cat.session() as s:
        before = {r.asset_id + r.stage: (r.finished_at, r.params_hash) for r in s.scalars(select(StageRecord))}
    files = sorted((cat.path / "thumbnails").rglob("*.*"))
    mtimes = [os.stat(f).st_mtime_ns for f in files]
    scan(cat, [lib])
    assert [os.stat(f).st_mtime_ns for f in files] == mtimes
    cat.settings["thumbnail_grid_px"] = 128
    counts = scan(cat, [lib])
    assert counts.stages["thumbnails"]["ok"] == 2
    assert counts.stages["hashes"]["ok"] == counts.stages["quality"]["ok"] == 0
    with cat.session() as s:
        after = {r.asset_id + r.stage: (r.finished_at, r.params_hash) for r in s.scalars(select(StageRecord))}
        sizes = {max(t.grid_width, t.grid_height) for t in s.scalars(select(Thumbnail))}
    assert {k for k in before if before[k] != after[k]} == {k for k in before if k.endswith("thumbnails")}
    assert sizes == {128} and len(sorted((cat.path / "thumbnails").rglob("*.*"))) == 8
    cat.close()
