"""The one decoder on real files and on the field cases' inputs (B12, B21, B22, B24, B28)."""

import csv
import resource

import numpy as np
import pytest

from lumina.media.decode import DecodeFailure
from tests.conftest import decode_file


pytestmark = pytest.mark.no_catalog  # pure functions and media I/O: the backend changes nothing


def test_orientation_samples_display_alike(corpus):
    first = None
    for i in range(1, 9):
        d = decode_file(corpus / f"exif-samples/jpg/orientation/landscape_{i}.jpg")
        assert (d.width, d.height, d.image.size) == (600, 450, (600, 450))
        pixels = np.asarray(d.image.resize((64, 48)), dtype=np.float32)  # averages out each file's JPEG noise
        first = pixels if first is None else first
        assert np.abs(pixels - first).mean() < 3.0, i  # a wrong rotation or flip differs by tens of levels


@pytest.mark.parametrize("rel, size, method", [
    ("exif-samples/heic/IMG_5195.HEIC", (2566, 3313), "full"),
    ("metadata-extractor/avif/Issue 649.avif", (5472, 3648), "full"),
    ("metadata-extractor/nef/Issue 247-1.nef", None, "draft"),  # a JPEG export named .nef
    ("metadata-extractor/mov/with-gps.mov", (320, 568), "video_frame"),  # rotated 90 degrees on display
])
def test_heic_avif_nef_and_video_decode(corpus, rel, size, method):
    d = decode_file(corpus / rel)
    if size:
        assert (d.width, d.height) == size
    assert max(d.image.size) <= 1440 and d.image.mode == "RGB"
    assert d.method in (method, "full")


def test_sixteen_bit_and_transparent_pngs(cases):
    ramp = np.asarray(decode_file(cases / "B12/input/ramp16.png").image.convert("L"), dtype=np.float32)
    tenth = ramp.shape[1] // 10
    assert ramp[:, :tenth].mean() < 40 and ramp[:, -tenth:].mean() > 215  # never clipped to white
    for name in ("lineart_a.png", "lineart_b.png"):
        art = np.asarray(decode_file(cases / f"B12/input/{name}").image.convert("L"), dtype=np.float32)
        assert art.std() > 10 and art.mean() > 60  # drawn on neutral grey, not turned black


def test_cmyk_becomes_correct_srgb(cases):
    img = np.asarray(decode_file(cases / "B24/input/cmyk.jpg").image, dtype=np.float32)
    half = img.shape[1] // 2
    assert np.abs(img[:, 10:half - 10].mean(axis=(0, 1)) - [255, 0, 0]).max() < 8
    assert np.abs(img[:, half + 10:-10].mean(axis=(0, 1)) - [0, 255, 255]).max() < 8


def test_panorama_is_shrunk_on_load_and_the_pixel_limit_holds(cases):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    d = decode_file(cases / "B21/input/pano_200mp.jpg")
    assert (d.width, d.height, d.method, d.image.size) == (20000, 10000, "draft", (1440, 720))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 300_000  # KiB: never the 600 MB full frame
    with pytest.raises(DecodeFailure) as err:
        decode_file(cases / "B21/input/pano_200mp.jpg", max_image_pixels=100_000_000)
    assert err.value.kind == "pixel_limit" and "200 MP" in str(err.value)
    assert decode_file(cases / "B21/input/ordinary.jpg", max_image_pixels=100_000_000).width > 0


@pytest.mark.parametrize("rel, kind", [
    ("B22/input/truncated.jpg", "truncated"), ("B28/input/cut.jpg", "truncated"),
    ("B28/input/empty.jpg", "empty"), ("B28/input/notes.jpg", "unsupported_format"),
])
def test_bad_files_fail_with_a_kind(cases, rel, kind):
    with pytest.raises(DecodeFailure) as err:
        decode_file(cases / rel)
    assert err.value.kind == kind and str(err.value).startswith(kind + ": ")


def test_broken_and_fuzzed_corpus_files_fail_cleanly(corpus):
    with open(corpus / "MANIFEST.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] in ("broken", "fuzzed")]
    kinds = {}
    for r in rows:
        try:
            decode_file(corpus / r["relpath"])
            kinds["ok"] = kinds.get("ok", 0) + 1
        except DecodeFailure as exc:
            kinds[exc.kind] = kinds.get(exc.kind, 0) + 1
        except AttributeError:  # by_content found no media type: the unknown-magic fuzz files
            kinds["not_media"] = kinds.get("not_media", 0) + 1
    assert set(kinds) <= {"ok", "truncated", "decode_error", "unsupported_format", "pixel_limit", "not_media"}
    assert kinds.get("decode_error", 0) + kinds.get("unsupported_format", 0) > 100
