"""Incremental scan behaviour on real photos: failures recorded, rescans stat only, moves keep analysis."""

import os
import shutil
import stat
import time

import pytest
from sqlalchemy import func, select

from lumina.catalog.db import open_catalog
from lumina.catalog.models import Asset, FileInstance, StageRecord
from lumina.catalog.queries import describe
from lumina.pipeline.scan import scan
from tests.conftest import copy_files

SAMPLE = ("exif-samples/jpg/Canon_40D.jpg", "exif-samples/jpg/gps/DSCN0010.jpg", "exif-samples/heic/IMG_5195.HEIC",
          "exif-samples/jpg/orientation/landscape_6.jpg")


def records(cat):
    with cat.session() as s:
        return {(r.asset_id, r.stage): (r.status, r.finished_at, r.params_hash) for r in s.scalars(select(StageRecord))}


def show(cat, ref):
    with cat.session() as s:
        return describe(s, str(ref))


def test_corpus_scan_records_every_file(corpus_catalog, corpus):
    counts = corpus_catalog.first_scan
    with corpus_catalog.session() as s:
        n_files = s.scalar(select(func.count()).select_from(FileInstance))
        by_status = dict(s.execute(select(FileInstance.status, func.count()).group_by(FileInstance.status)).all())
        n_assets = s.scalar(select(func.count()).select_from(Asset))
        meta = dict(s.execute(select(StageRecord.status, func.count()).where(StageRecord.stage == "metadata")
                              .group_by(StageRecord.status)).all())
    # every regular file is catalogued except XMP sidecars, which are read with the photo they describe
    on_disk = sum(1 for p in corpus.rglob("*") if p.is_file() and p.suffix.lower() != ".xmp")
    assert n_files == on_disk == counts.new
    # README/text/sidecar/unknown-magic files are catalogued as "ignored", not assets
    assert by_status["ignored"] == counts.ignored and by_status["present"] == n_files - counts.ignored
    assert n_assets < by_status["present"]  # byte-identical twins share one asset
    assert meta["ok"] + meta["failed"] == n_assets


def test_fuzzed_files_get_failure_records_and_other_files_are_unaffected(corpus_catalog, corpus):
    with corpus_catalog.session() as s:
        failed = s.execute(select(FileInstance.path, StageRecord.stage, StageRecord.error)
                           .join(StageRecord, StageRecord.asset_id == FileInstance.asset_id)
                           .where(StageRecord.status == "failed")).all()
    assert {stage for _, stage, _ in failed} == {"metadata", "thumbnails", "hashes", "quality", "embeddings"}
    allowed = {"metadata": ("exiftool_error", "exiftool_timeout"),
               **{st: ("decode_error", "unsupported_format", "truncated", "pixel_limit")
                  for st in ("thumbnails", "hashes", "quality", "embeddings")}}
    for path, stage, error in failed:
        assert error.split(":")[0] in allowed[stage], (path, stage, error)
    doc = show(corpus_catalog, corpus / "exif-samples/jpg/Canon_40D.jpg")
    assert doc["stages"]["metadata"]["status"] == "ok"


def test_byte_identical_twins_are_one_asset(corpus_catalog, corpus):
    doc = show(corpus_catalog, corpus / "metadata-extractor/jpg/Kodak CLAS Digital Film Scanner HR200 (1).jpg")
    names = sorted(os.path.basename(p) for p in doc["paths"])
    assert names == ["Kodak CLAS Digital Film Scanner HR200 (1).jpg", "Kodak CLAS Digital Film Scanner HR200 (2).jpg"]


def test_unchanged_rescan_reads_nothing_and_runs_no_exiftool(corpus, tmp_path):
    lib = tmp_path / "lib"
    copy_files(corpus, lib, *SAMPLE)
    cat = open_catalog(tmp_path / "cat")
    first = scan(cat, [lib])
    before = records(cat)
    # an ExifTool that cannot start proves the rescan never asks for one
    cat.settings["exiftool_path"] = "no-such-exiftool"
    second = scan(cat, [lib])
    assert (first.new, second.new, second.unchanged, second.bytes_read) == (4, 0, 4, 0)
    assert all(v == {"ok": 0, "failed": 0, "skipped": 0} for v in second.stages.values())
    assert records(cat) == before
    cat.close()


def test_renamed_file_keeps_its_asset_and_deleted_file_is_missing(corpus, tmp_path):
    lib = tmp_path / "lib"
    a, b, *_ = copy_files(corpus, lib, *SAMPLE)
    cat = open_catalog(tmp_path / "cat")
    scan(cat, [lib])
    asset = show(cat, a)["asset_id"]
    before = records(cat)
    (lib / "sub").mkdir()
    moved = lib / "sub" / "renamed.jpg"
    os.rename(a, moved)
    b.unlink()
    counts = scan(cat, [lib])
    assert counts.missing == 2 and counts.new == 1
    after = show(cat, moved)
    assert after["asset_id"] == asset and after["camera_model"] == "EOS 40D"
    assert records(cat) == before  # nothing re-run, nothing lost
    assert [f["status"] for f in after["files"]] == ["present", "missing"] or \
        sorted(f["status"] for f in after["files"]) == ["missing", "present"]
    gone = show(cat, b)
    assert gone["paths"] == [] and gone["files"][0]["status"] == "missing"
    cat.close()


def test_changed_file_becomes_a_new_asset_and_force_reruns(corpus, tmp_path):
    lib = tmp_path / "lib"
    (a, *_) = copy_files(corpus, lib, SAMPLE[0])
    cat = open_catalog(tmp_path / "cat")
    scan(cat, [lib])
    old = show(cat, a)["asset_id"]
    shutil.copyfile(corpus / SAMPLE[1], a)
    os.utime(a, (time.time() - 60, time.time() - 60))
    counts = scan(cat, [lib])
    assert counts.changed == 1 and show(cat, a)["asset_id"] != old
    forced = scan(cat, [lib], force=True)
    assert forced.stages["metadata"]["ok"] == 1
    cat.close()


def test_unsettled_file_waits_for_a_later_scan(corpus, tmp_path):
    lib = tmp_path / "lib"
    (a,) = copy_files(corpus, lib, SAMPLE[0])
    os.utime(a)  # modified just now
    cat = open_catalog(tmp_path / "cat", overrides={"settle_s": 3600})
    counts = scan(cat, [lib])
    assert counts.unsettled == 1 and show(cat, a)["asset_id"] is None
    cat.settings["settle_s"] = 0
    counts = scan(cat, [lib])
    assert counts.unsettled == 0 and show(cat, a)["camera_make"] == "Canon"
    cat.close()


def test_links_loops_hidden_folders_and_a_read_only_library(corpus, tmp_path):
    lib = tmp_path / "lib"
    copy_files(corpus, lib / "a", SAMPLE[0])
    copy_files(corpus, lib / ".hidden", SAMPLE[1])
    copy_files(corpus, lib / "@eaDir", SAMPLE[2])
    os.symlink("../missing/P1040281.JPG", lib / "a" / "0101.JPG")
    os.symlink("..", lib / "a" / "loop")
    for root, dirs, files in os.walk(lib):
        for n in files:
            if not os.path.islink(os.path.join(root, n)):
                os.chmod(os.path.join(root, n), 0o444)
        os.chmod(root, 0o555)
    snapshot = sorted((p, p.lstat().st_mtime_ns) for p in lib.rglob("*"))
    cat = open_catalog(tmp_path / "cat")
    counts = scan(cat, [lib])
    assert counts.failed == 1 and counts.new == 1  # the failed link, and the one visible photo once
    with cat.session() as s:
        assert s.scalar(select(func.count()).select_from(Asset)) == 1
        link = s.scalar(select(FileInstance).where(FileInstance.status == "failed"))
    assert link.error.startswith("dangling_link: ") and link.path.endswith("0101.JPG")
    assert sorted((p, p.lstat().st_mtime_ns) for p in lib.rglob("*")) == snapshot
    for root, dirs, files in os.walk(lib):
        os.chmod(root, stat.S_IRWXU)
    cat.close()


def test_undecodable_and_unicode_names(corpus, tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    data = (corpus / SAMPLE[0]).read_bytes()
    bad = os.path.join(os.fsencode(lib), b"bad-\xff\xfe.jpg")
    with open(bad, "wb") as f:
        f.write(data)
    (lib / "café.jpg").write_bytes(data)
    (lib / "cafe\u0301.jpg").write_bytes(data + b"\x00")  # other bytes: another asset
    for p in lib.iterdir():
        os.utime(p, (time.time() - 60, time.time() - 60))
    os.utime(bad, (time.time() - 60, time.time() - 60))
    cat = open_catalog(tmp_path / "cat")
    scan(cat, [lib])
    doc = show(cat, os.fsdecode(bad))
    assert os.fsdecode(bad) in doc["paths"] and len(doc["paths"]) == 2
    assert doc["files"][0]["warnings"] or doc["files"][1]["warnings"]
    assert show(cat, lib / "café.jpg")["asset_id"] != show(cat, lib / "cafe\u0301.jpg")["asset_id"]
    cat.close()


def test_scan_of_a_missing_folder_is_an_error(tmp_path):
    from lumina.errors import ConfigError

    cat = open_catalog(tmp_path / "cat")
    with pytest.raises(ConfigError, match="is not a folder"):
        scan(cat, [tmp_path / "nope"])
    cat.close()


def test_overlapping_roots_catalog_inside_library_and_future_mtimes(corpus, tmp_path):
    lib = tmp_path / "lib"
    (a,) = copy_files(corpus, lib / "sub", SAMPLE[0])
    future = time.time() + 10 * 365 * 86400
    os.utime(a, (future, future))
    os.symlink(lib, tmp_path / "alias")
    cat = open_catalog(tmp_path / "alias" / "cat")  # the catalog inside the library, spelt through a link
    first = scan(cat, [lib, lib / "sub", tmp_path / "alias"])
    second = scan(cat, [lib])
    assert (first.new, first.unsettled, second.new, second.unchanged) == (1, 0, 0, 1)
    doc = show(cat, a)
    assert doc["camera_make"] == "Canon" and doc["files"][0]["warnings"][0].startswith("mtime_in_future")
    from lumina.errors import CatalogError, ConfigError

    with pytest.raises(ConfigError, match="catalog folder"):
        scan(cat, [lib / "cat"])
    other = open_catalog(cat.path)
    try:
        with cat.writer():
            if cat.backend == "sqlite":  # one writer: a second scan is refused, not corrupting
                with pytest.raises(CatalogError, match="another scan"):
                    scan(other, [lib])
            else:  # PostgreSQL takes several writers (tests/pipeline/test_leases.py): nothing new, nothing doubled
                again = scan(other, [lib])
                assert (again.new, again.unchanged) == (0, 1)
    finally:
        other.close()
        cat.close()


def test_missing_exiftool_stops_the_scan_instead_of_failing_every_file(corpus, tmp_path):
    from lumina.errors import ExifToolError

    lib = tmp_path / "lib"
    copy_files(corpus, lib, SAMPLE[0])
    cat = open_catalog(tmp_path / "cat", overrides={"exiftool_path": "no-such-exiftool"})
    with pytest.raises(ExifToolError, match="libimage-exiftool-perl"):
        scan(cat, [lib])
    cat.settings["exiftool_path"] = "exiftool"
    assert scan(cat, [lib]).stages["metadata"]["ok"] == 1  # nothing was recorded as failed
    cat.close()
