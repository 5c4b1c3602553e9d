"""The resize cascade (issue 17) against the one-step copies it replaced, on every decodable corpus file.

Before, every copy a pixel stage asked for was resized from the 1440 px buffer. Now copies smaller than
the 512 px working copy (``lumina.media.decode.WORKING_PX``: the 256 px grid thumbnail, the 32 px
ThumbHash input) are resized from that copy, and the embedding encoders' 256 px input is resized from it
too (``Decoded.source_for``). The reference here is the former path, computed with the same public
``resize`` and encoder calls from the buffer. The hashes and the quality measures read the same copies
as before (the 512 px Lanczos copy, the 512 px triangle copy), so they are unchanged by construction.

Stated tolerances (measured on the 236 decodable photos, videos and frames of ../shared/corpus/real):

* grid thumbnail: same pixel size on every file; mean absolute difference of the pixels given to the
  encoder at most 2.0 grey levels on any file (measured at most 1.06), median at most 0.5 (measured 0.23);
* ThumbHash: the decoded placeholder (32 px source) identical for >= 80 % of files (measured 210 of 236,
  89 %) and within 10 grey levels mean absolute difference on any (measured at most 6.7: one quantised
  coefficient moved);
* embeddings: cosine similarity to the one-step vector >= 0.95 on every file (measured 0.976), median
  >= 0.999 (measured 0.9997); the same top ImageNet class for >= 95 % of files (measured 234 of 236).
"""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest
import thumbhash

from lumina.media.decode import WORKING_PX, DecodeFailure, fit_size, resize
from lumina.media.encoders import MobileNetV2Encoder
from tests.conftest import decode_file

pytestmark = pytest.mark.no_catalog  # media I/O and imports only: the backend changes nothing

GRID_PX, THUMBHASH_PX = 256, 32


def _thumbhash_pixels(img) -> np.ndarray:
    rgba = img.convert("RGBA")
    hashed = thumbhash.rgba_to_thumb_hash(rgba.width, rgba.height, list(rgba.tobytes()))
    w, h, pixels = thumbhash.thumb_hash_to_rgba(hashed)
    return np.asarray(pixels, dtype=np.float32).reshape(h, w, 4)[..., :3]


@pytest.fixture(scope="session")
def cascade(corpus) -> list[dict]:
    """Per decodable corpus file: the cascade's and the one-step copies and embeddings."""
    with open(corpus / "MANIFEST.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] not in ("broken", "fuzzed", "text")]
    enc = MobileNetV2Encoder()
    out = []
    for r in rows:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                d = decode_file(corpus / r["relpath"])
        except (DecodeFailure, AttributeError):  # not decodable (AttributeError: not a media type)
            continue
        crops = np.stack([enc.prepare(d.source_for(enc.resize_px)), enc.prepare(d.image)])
        encoded = enc.encode(crops)
        out.append({
            "relpath": r["relpath"], "buffer": d.image.size,
            "grid": (np.asarray(d.resized(GRID_PX), np.float32), np.asarray(resize(d.image, GRID_PX)[0], np.float32)),
            "thumbhash": (_thumbhash_pixels(d.resized(THUMBHASH_PX, "linear")),
                          _thumbhash_pixels(resize(d.image, THUMBHASH_PX, "linear")[0])),
            "cosine": float(encoded.embedding[0] @ encoded.embedding[1]),
            "same_class": int(np.argmax(encoded.probabilities[0])) == int(np.argmax(encoded.probabilities[1])),
        })
    assert len(out) >= 200  # the corpus has 236 decodable files
    return out


def test_grid_thumbnails_keep_their_size_and_differ_by_little(cascade):
    diffs = []
    for o in cascade:
        new, old = o["grid"]
        assert new.shape == old.shape == (*fit_size(*o["buffer"], GRID_PX)[::-1], 3), o["relpath"]
        diffs.append(float(np.abs(new - old).mean()))
    assert max(diffs) <= 2.0, max(zip(diffs, (o["relpath"] for o in cascade)))
    assert float(np.median(diffs)) <= 0.5
    # the cascade really is in use: a photo larger than the working copy gets other pixels than before
    assert any(d > 0 for d, o in zip(diffs, cascade) if max(o["buffer"]) > 2 * WORKING_PX)


def test_thumbhash_placeholders_differ_by_little(cascade):
    diffs = [(float(np.abs(a - b).mean()), o["relpath"]) for o in cascade for a, b in [o["thumbhash"]]]
    assert max(diffs)[0] <= 10.0, max(diffs)
    assert sum(d == 0 for d, _ in diffs) / len(diffs) >= 0.80


def test_embeddings_from_the_working_copy_agree_with_the_buffer(cascade):
    cosines = [o["cosine"] for o in cascade]
    assert min(cosines) >= 0.95, min(zip(cosines, (o["relpath"] for o in cascade)))
    assert float(np.median(cosines)) >= 0.999
    assert sum(o["same_class"] for o in cascade) / len(cascade) >= 0.95


def test_colour_conversion_after_the_fit_agrees_with_before_it(corpus):
    """RGB files with an ICC profile are fitted to the buffer size first and converted to sRGB after
    (HEIC is decoded at full size: a 12 MP iPhone frame sends an eighth of its pixels through
    LittleCMS). Against the former order, on every such corpus file (31, of which 5 need a fit):
    the same size, at most 0.5 grey level mean absolute difference (measured at most 0.11)."""
    from PIL import Image

    from lumina.media.decode import _fit, _register_heif, _to_srgb, draft_scale

    _register_heif()
    with open(corpus / "MANIFEST.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] not in ("broken", "fuzzed", "text", "video", "raw")]
    diffs = []
    for r in rows:
        try:
            with warnings.catch_warnings(), Image.open(corpus / r["relpath"]) as img:
                warnings.simplefilter("ignore")
                icc = img.info.get("icc_profile")
                if img.mode != "RGB" or not icc or "transparency" in img.info:
                    continue
                if img.format in ("JPEG", "MPO"):
                    scale = draft_scale(*img.size, 1440)
                    img.draft("RGB", (max(1, img.width // scale), max(1, img.height // scale)))
                img.load()
                before = np.asarray(_fit(_to_srgb(img, icc)[0], 1440)[0], np.float32)
                after = np.asarray(_to_srgb(_fit(img, 1440)[0], icc)[0], np.float32)
        except (OSError, SyntaxError, ValueError):  # not decodable by Pillow alone
            continue
        assert before.shape == after.shape, r["relpath"]
        diffs.append((float(np.abs(before - after).mean()), r["relpath"]))
    assert len(diffs) >= 25, len(diffs)
    assert max(diffs)[0] <= 0.5, max(diffs)
    assert sum(d > 0 for d, _ in diffs) >= 3  # the new order really ran: converted after a fit
