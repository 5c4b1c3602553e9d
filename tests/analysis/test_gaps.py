from lumina.analysis.gaps import TYPES, gap_report, to_html, to_markdown
from lumina.stages import GRAPH


def test_report_shape_and_honest_applicability(corpus_catalog):
    r = gap_report(corpus_catalog)
    assert set(r) >= {"catalog", "total_assets", "metadata", "dates", "cameras", "file_types", "failures", "job_order"}
    rows = {m["type"]: m for m in r["metadata"]}
    assert list(rows) == [t[0] for t in TYPES]
    for m in rows.values():
        assert m["count"] + m["gap"] == m["applicable"]
        assert sum(m["reasons"].values()) == m["gap"]
        assert 0.0 <= m["coverage"] <= 1.0
    total = r["total_assets"]
    assert rows["camera"]["applicable"] == total and rows["capture_date"]["applicable"] == total
    # geohash and place apply only to assets with a valid position
    assert rows["geohash"]["applicable"] == rows["place"]["applicable"] == rows["gps"]["count"] > 0
    assert rows["geohash"]["status"] == "complete"
    # placeholder positions in the corpus are rejected with a reason
    assert any("placeholder 0,0" in k for k in rows["gps"]["reasons"])
    assert rows["camera"]["reasons"]["no camera in file"] > 0
    assert any(k.startswith("metadata failed: exiftool_error") for k in rows["camera"]["reasons"])
    # without a CLIP model configured the row says so (and where to set one), never "not computed"
    assert rows["clip_embeddings"]["status"] == "missing" and len(rows["clip_embeddings"]["reasons"]) == 1
    assert "clip_image_model_path" in next(iter(rows["clip_embeddings"]["reasons"]))
    assert rows["embeddings"]["count"] == rows["thumbnails"]["count"]  # every decodable asset has a vector
    assert all(k.startswith("embeddings failed: ") for k in rows["embeddings"]["reasons"])
    # bursts: every photo is checked unless it lacks what burst detection needs; the reasons say what
    assert rows["bursts"]["status"] != "not computed" and rows["bursts"]["count"] > 0
    assert rows["bursts"]["reasons"]["not checked: no camera in file"] > 0
    assert all(k.startswith("not checked: ") or k == "not a photo" for k in rows["bursts"]["reasons"])
    assert r["bursts"]["generation"] is not None and r["bursts"]["whole_second_times"] > 0
    # a shutter time from maker notes or another block (FLIR, CIFF, PictureInfo, H.264) is a camera's
    # capture time: trusted by bursts and duplicates like EXIF's, never "no trustworthy capture time"
    untrusted = [k for k in rows["bursts"]["reasons"] if "no trustworthy capture time" in k]
    assert not [k for k in untrusted if k.rsplit(":", 1)[-1].rstrip(")") in ("DateTimeOriginal", "CreationDate")], untrusted
    # pixel types apply to every photo and video; decode failures are the reasons for their gaps
    for name, stage in (("thumbnails", "thumbnails"), ("perceptual_hashes", "hashes"), ("quality_score", "quality")):
        assert rows[name]["applicable"] == total and rows[name]["status"] == "partial"
        assert set(rows[name]["reasons"]) <= {f"{stage} failed: {k}" for k in ("decode_error", "unsupported_format",
                                                                               "truncated", "pixel_limit")}
        assert rows[name]["reasons"][f"{stage} failed: decode_error"] > 50
    assert rows["thumbnails"]["count"] == rows["perceptual_hashes"]["count"] == rows["quality_score"]["count"]
    # duplicates: every hashed, non-flat asset is checked; the others say why not
    dup = rows["duplicates"]
    assert dup["status"] in ("good", "partial") and dup["count"] <= rows["perceptual_hashes"]["count"]
    assert all(k.startswith("not checked: ") for k in dup["reasons"])
    assert any("flat image" in k for k in dup["reasons"]) and any("decode_error" in k for k in dup["reasons"])


def test_date_details_cameras_types_and_failures(corpus_catalog):
    r = gap_report(corpus_catalog)
    d = r["dates"]
    assert sum(d["by_source"].values()) == d["dated"] == r["total_assets"]
    assert d["by_source"]["EXIF:DateTimeOriginal"] > 100 and "mtime" in d["by_source"]
    assert 0 < d["confidence_ge_95"] < d["known_utc_offset"] <= d["dated"]
    assert d["estimated"] == d["by_source"]["mtime"] + d["by_source"].get("filename", 0) + d["by_source"].get("folder", 0)
    assert {"make": "Nikon", "model": "COOLPIX P6000", "count": 9} in r["cameras"]
    assert r["file_types"]["jpeg"] > 100 and "heic" in r["file_types"]
    assert r["failures"]["by_kind"]["exiftool_error"] == r["failures"]["by_stage"]["metadata"]["exiftool_error"]
    assert r["missing_files"] == 0


def test_job_order_comes_from_the_stage_graph(corpus_catalog):
    order = [j["stage"] for j in gap_report(corpus_catalog)["job_order"]]
    assert sorted(order) == sorted(s.name for s in GRAPH)
    for spec in GRAPH:
        assert all(order.index(req) < order.index(spec.name) for req in spec.requires)
    pending = {j["stage"]: j["pending"] for j in gap_report(corpus_catalog)["job_order"]}
    assert pending["metadata"] == pending["dates"] == pending["geo"] == pending["thumbnails"] == pending["hashes"] == 0


def test_markdown_and_html(corpus_catalog):
    r = gap_report(corpus_catalog)
    md = to_markdown(r)
    assert "| capture_date |" in md and "## Job order" in md
    page = to_html(r)
    assert page.startswith("<!doctype html>") and "<script" not in page


def test_date_rows_are_re_derived_from_show_of_every_asset(corpus_catalog):
    """Every date count of the report is one a user can re-derive from `lumina show` (describe)."""
    from sqlalchemy import select

    from lumina.catalog.models import Asset
    from lumina.catalog.queries import describe

    r = gap_report(corpus_catalog)
    with corpus_catalog.session() as s:
        docs = [describe(s, a) for a in s.scalars(select(Asset.asset_id))]
    dated = [d for d in docs if d["capture_time"] is not None]
    by_file_time = [d for d in dated if d["capture_time_source"] == "mtime"]
    own = [d for d in dated if d["capture_time_source"] not in ("user", "filename", "folder", "mtime")
           and not d["capture_time_source"].startswith(("sidecar ", "Takeout:"))]
    known_offset = [d for d in dated if d["utc_offset_minutes"] is not None and "utc_only" not in d["date_flags"]
                    and d["capture_time_source"] not in ("mtime", "folder")]
    d = r["dates"]
    assert d["total_with_date"] == d["dated"] == len(dated) == r["total_assets"]
    assert d["high_confidence"] == sum(1 for x in dated if x["capture_time_confidence"] >= 95)
    assert d["from_exif_quicktime"] == len(own) > 150
    assert d["estimated_from_file_time"] == len(by_file_time) > 0
    assert d["known_utc_offset"] == len(known_offset) < len(dated) - len(by_file_time)
    for flag in ("suspicious", "conflicting"):
        assert d[flag] == sum(1 for x in docs if flag in x["date_flags"])
    row = next(m for m in r["metadata"] if m["type"] == "capture_date")
    # file times are an estimate: a gap with its reason, never coverage
    assert row["count"] == len(dated) - len(by_file_time) - d["estimated_from_folder"]
    assert row["reasons"]["estimated from file time"] == len(by_file_time)
    assert row["status"] == "partial"


def test_cut_lists_say_how_many_more(corpus_catalog):
    r = gap_report(corpus_catalog)
    assert len(r["cameras"]) == 20 and r["cameras_not_listed"] == r["cameras_total"] - 20 > 0
    f = r["failures"]
    assert len(f["files"]) == min(200, len(f["files"]) + f["files_not_listed"])
    assert f["files_not_listed"] > 0
    md = to_markdown(r)
    assert f"… and {r['cameras_not_listed']} more cameras" in md
    # the terminal report shows 20 failure records and counts the rest
    assert f"… and {len(f['files']) - 20 + f['files_not_listed']} more failure records" in md
    assert md.count(" | thumbnails | ") + md.count(" | metadata | ") <= 20 + 2
    assert "| estimated from the file time | " in md and "estimated from file time (" in md
