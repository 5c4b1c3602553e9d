"""Duplicate detection on the labelled eval set (asserted minimums), chain splitting, keepers,
generations, feedback and resolution."""

import json
import shutil

import numpy as np
import pytest
from sqlalchemy import select

from lumina.analysis.duplicates import Item, complete_linkage, keeper_order
from lumina.analysis.evaluate import score
from lumina.analysis.hamming import pairs_within, popcount64
from lumina.catalog.db import open_catalog
from lumina.catalog.models import Asset, CatalogState, DuplicateFeedback, DuplicateGeneration
from lumina.errors import CatalogError, ConfigError
from lumina.pipeline.duplicates_run import duplicates_report, not_duplicates, resolve, run_duplicates
from lumina.pipeline.scan import scan
from tests.conftest import copy_files


def report(cat):
    with cat.session() as s:
        return duplicates_report(s)


def test_eval_set_meets_the_minimums(eval_catalog, eval_dev):
    result = score(json.loads((eval_dev / "truth.json").read_text()), eval_dev, report(eval_catalog)["groups"])["duplicates"]
    assert result["exact"]["precision"] == result["exact"]["recall"] == 1.0
    assert result["same_image"]["precision"] >= 0.98 and result["same_image"]["recall"] >= 0.95
    assert result["wrongly_grouped"] == {"burst_sibling": 0, "similar_not_duplicate": 0, "derivative": 0}


def test_groups_are_labelled_and_explained(eval_catalog, eval_dev):
    doc = report(eval_catalog)
    assert doc["generation"] is not None and doc["groups"]
    seen = set()
    for g in doc["groups"]:
        assert g["class"] in ("exact", "same_image") and g["reason"] and g["keeper"]["reason"]
        assert any(m["class"] == "keeper" for m in g["members"])
        ids = {m["asset_id"] for m in g["members"]} if g["class"] != "exact" else {g["keeper"]["asset_id"]}
        assert not ids & seen  # an image belongs to at most one group
        seen |= ids
        for m in g["members"]:
            if g["class"] == "same_image" and m["class"] != "keeper":
                assert {"phash", "dhash", "ahash", "whash", "mad"} <= set(m["distances"])
    crop = next(g for g in doc["groups"] if any("_crop" in p for m in g["members"] for p in m["paths"]))
    assert "cropped" in crop["reason"]


def test_keeper_prefers_pixels_and_ignores_junk_padding_and_lossless_rewraps():
    sig = np.zeros((64, 64), np.uint8)
    big = Item("a" * 64, ["/l/big.jpg"], "jpeg", "photo", 1000, 4000, 3000, signature=sig, quality=70)
    small = Item("b" * 64, ["/l/small.jpg"], "jpeg", "photo", 500, 2000, 1500, signature=sig, quality=80)
    keeper, why = keeper_order([small, big], {})
    assert keeper is big and why == "most pixels: 4000x3000 (others 2000x1500)"
    a = Item("c" * 64, ["/l/a.jpg"], "jpeg", "photo", 8972, 100, 100, quality=50, richness=2)
    padded = Item("d" * 64, ["/l/b.jpg"], "jpeg", "photo", 8973, 100, 100, quality=50, richness=2)
    png = Item("e" * 64, ["/l/d.png"], "png", "photo", 19567, 100, 100, quality=50, richness=0)
    evidence = {(a.asset_id, png.asset_id): {"mad": 0.0}, (padded.asset_id, png.asset_id): {"mad": 0.0}}
    keeper, why = keeper_order([padded, png, a], evidence)
    assert keeper is a and why == "fewest bytes: 8972 (others 8973); camera format (jpeg) over the conversion png of the same pixels"
    webp = Item("f" * 64, ["/l/a.webp"], "webp", "photo", 2000, 100, 100, quality=50, richness=2)
    keeper, why = keeper_order([webp, a], {(webp.asset_id, a.asset_id): {"mad": 0.3}})
    assert keeper is a and why == "camera format (jpeg) over the conversion webp of the same pixels"
    lossy = Item("9" * 64, ["/l/edit.jpg"], "jpeg", "photo", 3000, 100, 100, quality=50, richness=2)
    keeper, why = keeper_order([lossy, png], {(lossy.asset_id, png.asset_id): {"mad": 2.0}})  # pixels differ
    assert keeper is png and why == "lossless png over lossy jpeg"


def test_chains_are_split():
    """a~b, b~c, c~d but a!~c: connected components would chain all four into one group."""
    edges = [(1.0, "a", "b"), (1.5, "b", "c"), (2.0, "c", "d"), (2.5, "a", "c")]
    groups = sorted(sorted(g) for g in complete_linkage(edges, 50))
    assert groups == [["a", "b", "c"]] or groups == [["a", "b"], ["c", "d"]]
    long_chain = [(float(i), str(i), str(i + 1)) for i in range(20)]
    assert all(len(g) == 2 for g in complete_linkage(long_chain, 50))
    clique = [(1.0, x, y) for x in "abcdef" for y in "abcdef" if x < y]
    assert sorted(len(g) for g in complete_linkage(clique, 4)) == [2, 4]  # split at the size limit


def test_hamming_search_matches_brute_force():
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 2 ** 63, size=2000, dtype=np.int64).view(np.uint64)
    codes[1000:1300] = codes[:300] ^ (np.uint64(1) << rng.integers(0, 64, 300).astype(np.uint64))
    codes[1500:1600] = codes[:100] ^ np.uint64(0x3FF)  # 10 bits apart
    for radius in (0, 4, 10, 13):
        i, j, d = pairs_within(codes, radius)
        bi, bj = np.triu_indices(len(codes), 1)
        near = popcount64(codes[bi] ^ codes[bj]) <= radius
        assert set(zip(i.tolist(), j.tolist())) == set(zip(bi[near].tolist(), bj[near].tolist()))
    with pytest.raises(ValueError):
        pairs_within(codes, 64)


def test_generations_feedback_and_resolution(corpus, tmp_path, eval_dev, settle_now):
    lib = tmp_path / "lib"
    orig, half, *_ = copy_files(eval_dev, lib, "originals/Blackberry Z10.jpg", "resize/Blackberry Z10_50.jpg",
                                "originals/DSCN0012.jpg")
    shutil.copy(orig, lib / "twin.jpg")
    cat = open_catalog(tmp_path / "cat")
    scan(cat, [lib])
    doc = report(cat)
    first = doc["generation"]
    (group,) = [g for g in doc["groups"] if g["class"] == "same_image"]
    assert {p.rsplit("/", 1)[1] for m in group["members"] for p in m["paths"]} == {"Blackberry Z10.jpg",
                                                                                  "Blackberry Z10_50.jpg", "twin.jpg"}
    assert group["keeper"]["asset_id"] == next(m["asset_id"] for m in group["members"] if str(orig) in m["paths"])
    with pytest.raises(ConfigError):
        cat.settings["duplicate_radius_bits"] = 40
        run_duplicates(cat, force=True)
    cat.settings["duplicate_radius_bits"] = 10
    assert report(cat)["generation"] == first  # a failed run leaves the previous generation in place
    a, b = (m["asset_id"] for m in group["members"])
    not_duplicates(cat, a, b)
    assert not [g for g in report(cat)["groups"] if g["class"] == "same_image"]
    with cat.session() as s:
        s.query(DuplicateFeedback).delete()
        s.commit()
    run_duplicates(cat, force=True)
    (group,) = [g for g in report(cat)["groups"] if g["class"] == "same_image"]
    with pytest.raises(ConfigError, match="not a member"):
        resolve(cat, group["id"], "0" * 64)
    trash = tmp_path / "trash"
    out = resolve(cat, group["id"], group["keeper"]["asset_id"], trash=str(trash))
    assert not half.exists() and len(list(trash.iterdir())) == 1 and orig.exists()
    other = next(m["asset_id"] for m in group["members"] if m["asset_id"] != out["kept"])
    with cat.session() as s:
        rejected = s.scalar(select(Asset.status).where(Asset.asset_id == other))
        gens = s.scalars(select(DuplicateGeneration.id)).all()
        current = s.get(CatalogState, "duplicates.generation").value
    assert rejected == "rejected" and current == max(gens) and len(gens) <= 2
    cat.close()
