"""Similar-image and text search on the eval set (CLI, API), the gap report's semantic rows, and
the CLIP path on a tiny CLIP-shaped model built here."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from lumina.analysis.gaps import gap_report
from lumina.analysis.search import search
from lumina.api.app import create_app
from lumina.catalog.db import open_catalog
from lumina.cli.main import app
from lumina.pipeline.scan import scan

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def first_names(doc, n=1) -> list[str]:
    return [os.path.basename(r["paths"][0]) for r in doc["results"][:n]]


@pytest.mark.parametrize("query,photo", [("dog", "kodak-dc240"), ("flowers", "Nikon Coolpix 775"),
                                         ("mountains", "Nikon E990"), ("a starfish", "fujifilm-mx1700"),
                                         ("a red circle", "red_circle")])
def test_text_query_returns_the_photo_first(semantic_catalog, query, photo):
    doc = search(semantic_catalog, query)
    assert first_names(doc)[0].startswith(photo), doc["results"][:3]
    top = doc["results"][0]
    assert 0 <= top["distance"] <= 0.5 and top["score"] == pytest.approx(1 - top["distance"], abs=1e-3)
    assert doc["mode"] == "tags" and doc["image_model_id"].startswith("mobilenet_v2-imagenet@")
    assert doc["text_model_id"].startswith("all-minilm-l6-v2-int8@")
    assert any("tag" in m for m in top["matched"])
    assert [r["distance"] for r in doc["results"]] == sorted(r["distance"] for r in doc["results"])


def test_unrelated_query_is_cut_off_and_the_cut_off_is_per_request(semantic_catalog):
    doc = search(semantic_catalog, "a dog on a beach")  # field case B26: no beach in these photos
    assert doc["results"] == [] and doc["low_confidence"]
    assert all(r["distance"] > doc["max_distance"] for r in doc["low_confidence"])
    wider = search(semantic_catalog, "a dog on a beach", max_distance=0.6)
    assert first_names(wider)[0].startswith("kodak-dc240")


def test_structured_words_become_filters(semantic_catalog):
    doc = search(semantic_catalog, "building nikon 2008 italy")
    assert {(f["filter"], f["value"]) for f in doc["filters"]} == {("camera", "nikon"), ("year", 2008),
                                                                     ("country", "IT")}
    assert doc["results"] and all(os.path.basename(r["paths"][0]).startswith("DSCN00") for r in doc["results"])
    assert all({"filter": "year", "value": 2008, "text": "2008"} in r["matched"] for r in doc["results"])
    assert search(semantic_catalog, "video")["results"] == []  # no video in this library


def test_cli_similar_and_search_json(semantic_catalog, semantic_library):
    runner = CliRunner()
    res = runner.invoke(app, ["similar", str(semantic_library / "originals" / "Nikon E990.jpg"), "--limit", "3",
                              "--format", "json", "-c", str(semantic_catalog.path)])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert len(doc["results"]) == 3 and set(doc["results"][0]) == {"asset_id", "paths", "distance"}
    assert doc["query"]["asset_id"] not in [r["asset_id"] for r in doc["results"]]
    assert [r["distance"] for r in doc["results"]] == sorted(r["distance"] for r in doc["results"])
    assert os.path.basename(doc["results"][0]["paths"][0]).startswith("Nikon E990")  # a copy of it
    res = runner.invoke(app, ["search", "dog", "--format", "json", "-c", str(semantic_catalog.path)])
    assert res.exit_code == 0 and {"asset_id", "paths", "score", "matched"} <= set(json.loads(res.output)["results"][0])
    res = runner.invoke(app, ["similar", "ffffffff0000", "-c", str(semantic_catalog.path)])
    assert res.exit_code == 1 and "no asset" in res.output


def test_api_similar_and_search(semantic_catalog):
    with TestClient(create_app(Path(semantic_catalog.path), TOKEN, worker=False)) as c:
        hits = c.get("/api/catalogs/default/search", params={"q": "flowers", "limit": 2}, headers=AUTH)
        assert hits.status_code == 200, hits.text
        top = hits.json()["results"][0]
        assert os.path.basename(top["paths"][0]).startswith("Nikon Coolpix 775")
        # the same hits as grid items for the web UI, best first, with their sizes and thumbnails
        items = hits.json()["items"]
        assert [i["asset_id"] for i in items] == [r["asset_id"] for r in hits.json()["results"]][:len(items)]
        assert items and items[0]["width"] > 0 and items[0]["thumbnail_url"].startswith(f"/api/images/{top['asset_id']}/")
        sim = c.get(f"/api/images/{top['asset_id'][:12]}/similar", params={"limit": 4}, headers=AUTH)
        assert sim.status_code == 200 and len(sim.json()["results"]) == 4
        assert top["asset_id"] not in [r["asset_id"] for r in sim.json()["results"]]
        cut = c.get("/api/catalogs/default/search", params={"q": "dog", "max_distance": 0.0}, headers=AUTH)
        assert cut.json()["results"] == [] and cut.json()["low_confidence"]
        bad = c.get("/api/catalogs/default/search", params={"q": "dog", "max_distanse": 0.1}, headers=AUTH)
        assert bad.status_code == 422 and "max_distanse" in bad.json()["error"]["message"]
        assert c.get("/api/images/0123456789ab/similar", headers=AUTH).status_code == 404
        assert c.get("/api/catalogs/default/search", params={"q": "dog"}).status_code == 401


def test_gap_report_semantic_rows_are_honest(semantic_catalog):
    rows = {r["type"]: r for r in gap_report(semantic_catalog)["metadata"]}
    emb, clip, tags, descs = rows["embeddings"], rows["clip_embeddings"], rows["tags"], rows["descriptions"]
    assert emb["count"] == emb["applicable"] - 1 and list(emb["models"])[0].startswith("mobilenet_v2-imagenet@")
    assert list(emb["reasons"]) == ["embeddings failed: truncated"]
    assert clip["count"] == 0 and "clip_image_model_path" in list(clip["reasons"])[0]
    assert set(tags["by_source"]) == {"auto", "file"} and "manual" not in tags["by_source"]
    assert descs["by_source"] == {"template": descs["count"]}


def tiny_clip(folder: Path) -> dict:
    """A CLIP-shaped pair of ONNX encoders and a tokenizer, built here (not a real CLIP: tiny and
    transparent). Image: (N,3,16,16) -> mean colour per channel -> (N,8). Text: word ids -> mean of an
    8-d table -> (N,8), where "red", "green", "blue" sit where pure red, green, blue images land."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from tokenizers import Tokenizer, models, pre_tokenizers

    from lumina.media.encoders import CLIP_MEAN, CLIP_STD

    w = np.zeros((3, 8), np.float32)
    w[:3, :3] = np.eye(3)
    w[:, 3] = 0.1  # a shared component, as real embeddings have
    image = helper.make_graph(
        [helper.make_node("ReduceMean", ["pixel_values"], ["mean"], axes=[2, 3], keepdims=0),
         helper.make_node("MatMul", ["mean", "w"], ["image_embeds"])],
        "tiny_clip_image", [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["n", 3, 16, 16])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["n", 8])], [numpy_helper.from_array(w, "w")])
    vocab = {"[PAD]": 0, "[UNK]": 1, "red": 2, "green": 3, "blue": 4, "circle": 5}
    table = np.zeros((len(vocab), 8), np.float32)
    for word, rgb in (("red", (1, 0, 0)), ("green", (0, 1, 0)), ("blue", (0, 0, 1))):
        table[vocab[word]] = ((np.array(rgb, np.float32) - CLIP_MEAN) / CLIP_STD) @ w
    text = helper.make_graph(
        [helper.make_node("Gather", ["table", "input_ids"], ["tokens"]),
         helper.make_node("ReduceMean", ["tokens"], ["text_embeds"], axes=[1], keepdims=0)],
        "tiny_clip_text", [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["n", "t"])],
        [helper.make_tensor_value_info("text_embeds", TensorProto.FLOAT, ["n", 8])],
        [numpy_helper.from_array(table, "table")])
    for graph, name in ((image, "image.onnx"), (text, "text.onnx")):
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), folder / name)
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(folder / "tokenizer.json"))
    return {"clip_image_model_path": str(folder / "image.onnx"), "clip_text_model_path": str(folder / "text.onnx"),
            "clip_tokenizer_path": str(folder / "tokenizer.json")}


def test_clip_path_on_a_tiny_built_model(cases, tmp_path, settle_now):
    import onnxruntime as ort
    from tokenizers import Tokenizer

    settings = tiny_clip(tmp_path)
    lib = tmp_path / "lib"
    shutil.copytree(cases / "B26" / "input", lib)
    cat = open_catalog(tmp_path / "cat", overrides={"workers": 1, **settings})
    scan(cat, [lib])
    doc = search(cat, "red circle", limit=4, max_distance=2.0)
    assert doc["mode"] == "clip" and doc["text_model_id"].startswith("clip-text@")
    assert doc["image_model_id"].startswith("clip-image@")
    assert first_names(doc) == ["red_circle.png"]
    # distances are 1 - cosine of the stored image vectors and the text encoder's output, run here directly
    ids = Tokenizer.from_file(settings["clip_tokenizer_path"]).encode("red circle").ids
    q = ort.InferenceSession(settings["clip_text_model_path"]).run(None, {"input_ids": np.array([ids])})[0][0]
    q /= np.linalg.norm(q)
    from lumina.catalog.models import Embedding

    with cat.session() as s:
        stored = {e.asset_id: np.frombuffer(e.clip_vector, "<f2").astype(np.float32) for e in s.query(Embedding)}
        assert {e.clip_dim for e in s.query(Embedding)} == {8}
    for r in doc["results"]:
        assert r["distance"] == pytest.approx(1 - float(stored[r["asset_id"]] @ q), abs=2e-3)
    rows = {r["type"]: r for r in gap_report(cat)["metadata"]}
    assert rows["clip_embeddings"]["count"] == 4 and rows["clip_embeddings"]["status"] == "complete"
    cat.close()


def test_large_catalog_index_gives_the_exact_neighbours(semantic_catalog):
    """The 8-bit candidate path used from 50k vectors, forced here on the eval set's real vectors,
    returns what the exact fp16 scan returns, with the same distances."""
    from lumina.analysis.search import vector_index
    from lumina.analysis.similar import VectorIndex
    from lumina.catalog.vectors import load_vectors

    exact = vector_index(semantic_catalog)
    with semantic_catalog.session() as s:
        ids, vectors = load_vectors(s, exact.model_id)
    quantised = VectorIndex(ids, vectors, exact.model_id, sq8_min_vectors=0)
    assert quantised.exact is not None
    for row in range(0, len(ids), 7):
        q = exact.vector(row)
        got, want = quantised.search(q, 5, exclude={ids[row]}), exact.search(q, 5, exclude={ids[row]})
        assert [d for _, d in got] == [d for _, d in want]
        last = want[-1][1]  # rows tied at the last distance may come in either order
        assert {a for a, d in got if d < last} == {a for a, d in want if d < last}
