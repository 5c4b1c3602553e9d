"""Perceptual hashes: imagehash definitions, invariance on the labelled eval set, degenerate flags."""

import itertools
import json
import warnings

import pytest
from PIL import Image

from lumina.settings import load_settings
from lumina.stages.base import AssetView
from lumina.stages.hashes import HashesStage, hamming_distance, image_hashes, to_signed, to_unsigned
from tests.conftest import decode_file

pytestmark = pytest.mark.no_catalog  # pure functions and media I/O: the backend changes nothing


KINDS = ("ahash", "dhash", "phash", "whash")


def stage_hashes(path):
    d = decode_file(path)
    view = AssetView("0" * 64, b"", "photo", "jpeg", 1, 0)
    values = HashesStage(load_settings()).run_pixels(view, d).values
    return {k: to_unsigned(values[k]) if k in KINDS else values[k] for k in values}


def test_signed_storage_round_trips():
    for v in (0, 1, (1 << 63) - 1, 1 << 63, (1 << 64) - 1):
        assert to_unsigned(to_signed(v)) == v and -(1 << 63) <= to_signed(v) < 1 << 63
    assert hamming_distance(to_signed((1 << 64) - 1), 0) == 64


def test_agreement_with_imagehash_on_the_same_buffer(corpus):
    """imagehash on the full 1440 px buffer vs the stage (512 px working copy): stated agreement."""
    same = near = total = 0
    for path in sorted((corpus / "exif-samples/jpg").glob("*.jpg")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                d = decode_file(path)
            except Exception:
                continue
        ref = image_hashes(d.image)
        got = stage_hashes(path)
        worst = max(hamming_distance(ref[k], got[k]) for k in KINDS)
        total += 1
        same += worst == 0
        near += worst <= 2
    assert total >= 15
    assert near / total >= 0.9 and same / total >= 0.6


def test_orientation_samples_hash_alike(corpus):
    hashes = [stage_hashes(corpus / f"exif-samples/jpg/orientation/landscape_{i}.jpg") for i in range(1, 9)]
    for h in hashes[1:]:
        assert all(hamming_distance(h[k], hashes[0][k]) <= 4 for k in KINDS)


def test_copies_stay_close_and_different_photos_do_not(eval_dev):
    truth = json.loads((eval_dev / "truth.json").read_text())
    cache = {}

    def h(rel):
        if rel not in cache:
            cache[rel] = stage_hashes(eval_dev / rel)
        return cache[rel]

    checked = 0
    for group in truth["duplicate_groups"]:
        for member in group[1:]:
            if member.split("/")[0] in ("resize", "reencode", "format", "orientation", "stripped", "exact"):
                assert hamming_distance(h(group[0])["phash"], h(member)["phash"]) <= 4, member
                assert hamming_distance(h(group[0])["dhash"], h(member)["dhash"]) <= 4, member
                checked += 1
    assert checked > 50
    originals = [g[0] for g in truth["duplicate_groups"]]
    for a, b in itertools.combinations(originals, 2):
        assert hamming_distance(h(a)["phash"], h(b)["phash"]) >= 12, (a, b)


def test_flat_images_are_degenerate_and_photos_are_not(cases, corpus):
    for name in ("solid_black.jpg", "solid_white.jpg", "solid_grey.jpg", "solid_blue.jpg"):
        got = stage_hashes(cases / f"B14/input/{name}")
        assert got["degenerate"] and "flat" in got["degenerate_reason"], name
    assert not stage_hashes(corpus / "exif-samples/jpg/Canon_40D.jpg")["degenerate"]


def test_dark_photo_is_not_a_flat_image(tmp_path, corpus):
    """A real photo darkened to 5 % keeps its structure (synthetic edit of a real file)."""
    with Image.open(corpus / "exif-samples/jpg/gps/DSCN0010.jpg") as img:
        img.point(lambda v: v // 20).save(tmp_path / "dark.png")
    assert not stage_hashes(tmp_path / "dark.png")["degenerate"]
