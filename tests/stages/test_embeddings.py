"""The embeddings and tags stages on real photos: vectors from the one decode, derivatives near
their originals, everyday tags on photos we looked at, source tracking, kept removals, bad models."""

import json
import shutil

import numpy as np
import pytest
from sqlalchemy import select

from lumina.analysis.search import similar
from lumina.catalog.db import open_catalog
from lumina.catalog.models import AssetTags, Embedding, StageRecord
from lumina.catalog.queries import find_file
from lumina.media.encoders import MOBILENET_PATH, ModelError, MobileNetV2Encoder, open_session
from lumina.pipeline.scan import scan
from tests.conftest import decode_file

# Photos of ../shared/eval/dev/originals looked at by eye, with the everyday tag they must carry.
NAMED = {"kodak-dc240.jpg": "dog", "Nikon Coolpix 775.jpg": "flower", "Nikon E990.jpg": "mountain",
         "fujifilm-mx1700.jpg": "starfish", "DSCN0038.jpg": "building", "Panasonic NV-GX7.jpg": "cliff"}


def asset_of(cat, path) -> str:
    with cat.session() as s:
        return find_file(s, str(path)).asset_id


def tags_of(cat, asset_id) -> dict[str, dict]:
    with cat.session() as s:
        return {t["tag"]: t for t in s.get(AssetTags, asset_id).tags}


def test_vectors_are_normalised_with_model_id_and_match_a_direct_encoding(semantic_catalog, semantic_library):
    path = semantic_library / "originals" / "kodak-dc240.jpg"
    aid = asset_of(semantic_catalog, path)
    with semantic_catalog.session() as s:
        row = s.get(Embedding, aid)
    vec = np.frombuffer(row.vector, dtype="<f2").astype(np.float32)
    enc = MobileNetV2Encoder()
    assert row.model_id == enc.model_id and row.model_id.startswith("mobilenet_v2-imagenet@") and row.dim == 1280
    assert abs(float(np.linalg.norm(vec)) - 1.0) < 1e-2
    # the stage read the shared 512 px working copy in a batch of 8; encoding the same copy alone agrees
    direct = enc.encode(enc.prepare(decode_file(path, max_edge_px=1440).source_for(enc.resize_px))[None])
    assert float(direct.embedding[0] @ vec) > 0.999
    top = max(row.class_scores, key=row.class_scores.get)
    assert int(top) == int(np.argmax(direct.probabilities[0]))


def test_every_copy_and_edit_has_its_original_among_its_3_nearest(semantic_catalog, semantic_library, eval_dev):
    truth = json.loads((eval_dev / "truth.json").read_text())
    checked, worst = 0, 0.0
    for group in truth["duplicate_groups"] + truth["derivative_pairs"]:
        ids = [asset_of(semantic_catalog, semantic_library / p) for p in group]
        for member, mid in zip(group[1:], ids[1:]):
            if mid == ids[0]:
                continue  # a byte-identical copy is the same asset
            # other copies of the same original are not competitors: only other photos are
            hits = [r for r in similar(semantic_catalog, mid, 20)["results"]
                    if r["asset_id"] == ids[0] or r["asset_id"] not in ids]
            nearest = [r["asset_id"] for r in hits[:3]]
            assert ids[0] in nearest, f"{member}: original not among {hits[:3]}"
            worst = max(worst, next(r["distance"] for r in hits if r["asset_id"] == ids[0]))
            checked += 1
    assert checked >= 80 and worst < 0.3  # measured: 84 members, farthest original at 0.234 (a 25 % resize)


@pytest.mark.parametrize("name,tag", sorted(NAMED.items()))
def test_named_photos_carry_their_everyday_tag(semantic_catalog, semantic_library, name, tag):
    tags = tags_of(semantic_catalog, asset_of(semantic_catalog, semantic_library / "originals" / name))
    assert tag in tags, sorted(tags)
    assert tags[tag]["source"] == "auto" and tags[tag]["model_id"].startswith("mobilenet_v2-imagenet@")


def test_folding_puts_a_breed_under_dog_and_animal(semantic_catalog, semantic_library):
    tags = tags_of(semantic_catalog, asset_of(semantic_catalog, semantic_library / "originals" / "kodak-dc240.jpg"))
    assert {"dog", "animal", "mammal"} <= set(tags)
    assert tags["dog"]["score"] > 0.9


def test_file_keywords_are_source_file_never_manual(semantic_catalog):
    with semantic_catalog.session() as s:
        rows = [t for r in s.scalars(select(AssetTags)) for t in r.tags]
    assert any(t["source"] == "file" for t in rows)  # one eval photo carries IPTC keywords
    assert not any(t["source"] == "manual" for t in rows)  # nobody set a tag by hand here


def test_undecodable_file_has_no_embedding_and_says_why(semantic_catalog, semantic_library):
    aid = asset_of(semantic_catalog, semantic_library / "truncated.jpg")
    with semantic_catalog.session() as s:
        rec = s.get(StageRecord, (aid, "embeddings"))
        assert s.get(Embedding, aid) is None
    assert rec.status == "failed" and rec.error.split(":")[0] in ("truncated", "decode_error")


def test_removed_auto_tag_stays_removed_on_rerun(eval_dev, tmp_path, settle_now):
    from typer.testing import CliRunner

    from lumina.cli.main import app
    from lumina.pipeline.runner import run_pipeline

    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copy2(eval_dev / "originals" / "kodak-dc240.jpg", lib / "dog.jpg")
    cat = open_catalog(tmp_path / "cat")
    scan(cat, [lib])
    cat.close()
    runner = CliRunner()
    res = runner.invoke(app, ["tags", str(lib / "dog.jpg"), "-c", str(tmp_path / "cat"), "--remove", "dog",
                              "--add", "Rex", "--format", "json"])
    assert res.exit_code == 0, res.output
    cat = open_catalog(tmp_path / "cat")
    run_pipeline(cat, ["tags"], force=True)  # a forced re-run of the model keeps the user's choice
    tags = tags_of(cat, asset_of(cat, lib / "dog.jpg"))
    assert "dog" not in tags and tags["rex"]["source"] == "manual" and tags["animal"]["source"] == "auto"
    cat.close()


def test_bad_model_files_give_one_clear_error(tmp_path):
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(MOBILENET_PATH.read_bytes()[:100_000])
    with pytest.raises(ModelError, match="cannot be loaded"):
        open_session(truncated, "clip-image")
    with pytest.raises(ModelError, match="not found"):
        open_session(tmp_path / "missing.onnx", "clip-image")


def test_broken_clip_model_costs_only_clip_vectors(eval_dev, tmp_path, settle_now, capfd):
    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copy2(eval_dev / "originals" / "Nikon E990.jpg", lib / "a.jpg")
    bad = tmp_path / "clip.onnx"
    bad.write_bytes(MOBILENET_PATH.read_bytes()[:50_000])
    cat = open_catalog(tmp_path / "cat", overrides={"clip_image_model_path": str(bad), "workers": 1})
    scan(cat, [lib])
    err = capfd.readouterr().err
    assert err.count("CLIP embeddings skipped: model_error") == 1 and str(bad) in err
    with cat.session() as s:
        row = s.scalar(select(Embedding))
        statuses = {r.stage: r.status for r in s.scalars(select(StageRecord))}
    assert row.vector and row.clip_vector is None and row.clip_error.startswith("model_error:")
    assert set(statuses.values()) == {"ok"}
    from lumina.analysis.gaps import gap_report

    clip_row = next(r for r in gap_report(cat)["metadata"] if r["type"] == "clip_embeddings")
    assert list(clip_row["reasons"]) == [row.clip_error]
    cat.close()
