"""Pixel quality on real photos; blur, noise and JPEG re-encoding are applied to real photos
(synthetic edits, since the corpus has no blurred twin of a photo)."""

import numpy as np
import pytest
from PIL import Image, ImageFilter

from lumina.stages.quality import jpeg_quality, noise_sigma, pixel_quality
from tests.conftest import decode_file

pytestmark = pytest.mark.no_catalog  # pure functions and media I/O: the backend changes nothing


PHOTO = "exif-samples/jpg/gps/DSCN0010.jpg"


def score(img, quant=None):
    return pixel_quality(img, img.width, img.height, quant, 512)


def test_blurred_copy_scores_below_its_original(corpus):
    original = decode_file(corpus / PHOTO).image
    blurred = original.filter(ImageFilter.GaussianBlur(3))
    a, b = score(original), score(blurred)
    assert b["sharpness"] < a["sharpness"] / 5
    assert b["score"] < a["score"]


@pytest.mark.parametrize("q", [50, 75, 90, 95])
def test_jpeg_quality_is_estimated_from_quantisation_tables(corpus, tmp_path, q):
    with Image.open(corpus / PHOTO) as img:
        img.save(tmp_path / "q.jpg", quality=q)
    with Image.open(tmp_path / "q.jpg") as img:
        assert abs(jpeg_quality(img.quantization) - q) <= 2
    assert jpeg_quality(None) is None


def test_noise_estimate_tracks_added_noise(corpus):
    grey = np.asarray(decode_file(corpus / PHOTO).image.convert("L").filter(ImageFilter.GaussianBlur(2)),
                      dtype=np.float64)
    rng = np.random.default_rng(7)
    base = noise_sigma(grey)
    noisy = noise_sigma(grey + rng.normal(0, 8, grey.shape))
    assert base < 2.0 and 7.0 < noisy < 9.5


def test_exposure_components(cases):
    white = decode_file(cases / "B14/input/solid_white.jpg").image
    values = score(white)
    assert values["clipped_highlights"] > 0.99 and values["components"]["exposure"] == 0.0
