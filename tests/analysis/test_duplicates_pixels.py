"""The pixel comparison of duplicate verification: the compiled crop search gives exactly what the
Pillow definition (``crop_windows``, refined over ``refined_boxes``) gives, for every crop that can
change a verdict, with the crop's local difference and the pair's content share."""

import numpy as np
import pytest
from PIL import Image

from lumina.analysis.duplicates import (BACKGROUND_TOLERANCE, COPY_MAD, CROP_TAPS, _small, box_taps, compare_pixels,
                                        compare_signatures, crop_boxes, crop_windows, refined_boxes)


pytestmark = pytest.mark.no_catalog  # pure functions and media I/O: the backend changes nothing


def pillow_small(a: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(a).resize((32, 32), Image.Resampling.BOX), dtype=np.float32)


def pillow_compare(a: np.ndarray, b: np.ndarray, limit: float) -> dict:
    """The comparison as defined with Pillow: every square window of ``crop_windows``, both ways,
    the best one below the limit refined over ``refined_boxes``; integer sums as the search keeps them."""
    a32, b32 = pillow_small(a), pillow_small(b)
    background = [np.bincount(x.astype(np.int64).ravel(), minlength=256).argmax() for x in (a32, b32)]
    shown = (np.abs(a32 - background[0]) > BACKGROUND_TOLERANCE) | (np.abs(b32 - background[1]) > BACKGROUND_TOLERANCE)
    out = {"mad": round(float(np.abs(a32 - b32).mean()), 3), "crop_mad": None, "crop_scale": None,
           # the local difference: the worst 4x4 block of the 32x32 comparison
           "local_mad": round(float(np.abs(a32 - b32).reshape(8, 4, 8, 4).mean(axis=(1, 3)).max()), 3),
           "crop_local_mad": None, "content_share": round(float(shown.mean()), 4)}
    if out["mad"] <= COPY_MAD:
        return out
    best, found = int(min(limit, out["mad"] - 3) * 1024) + 2, None
    for src, ref in ((a, b32), (b, a32)):
        wins, _ = crop_windows(src)
        sums = np.abs(wins.astype(np.int64) - ref.astype(np.int64)).sum(axis=(1, 2))
        k = int(sums.argmin())
        if sums[k] < best:
            best, found = int(sums[k]), (src, ref, crop_boxes()[k])
    if found is None:
        return out
    src, ref, box = found
    img = Image.fromarray(src)
    for xa, xb, ya, yb in refined_boxes(box):
        total = int(np.abs(np.asarray(img.resize((32, 32), Image.Resampling.BOX, box=(xa, ya, xb, yb)), np.int64)
                           - ref.astype(np.int64)).sum())
        if total < best:
            best, box = total, (xa, xb, ya, yb)
    xa, xb, ya, yb = box
    diff = np.asarray(img.resize((32, 32), Image.Resampling.BOX, box=(xa, ya, xb, yb)), np.int64) - ref.astype(np.int64)
    regions = np.lib.stride_tricks.sliding_window_view(diff, (4, 4)).sum(axis=(2, 3))  # every 4x4 region
    out.update(crop_mad=round(best / 1024, 3), crop_scale=round(float(np.sqrt((xb - xa) * (yb - ya))) / 64, 2),
               crop_local_mad=round(float(np.abs(regions).max()) / 16, 3))
    return out


def test_windows_and_thumbnails_are_pillows():
    rng = np.random.default_rng(0)
    first, last, positions = CROP_TAPS
    for sig in (rng.integers(0, 256, (64, 64), dtype=np.uint8), np.full((64, 64), 255, np.uint8)):
        wins, _ = crop_windows(sig)
        a = sig.astype(np.int64)
        k = 0
        for s, count in enumerate(positions):
            for x0 in range(count):
                rows = (a[:, first[s, x0]] + a[:, last[s, x0]] + 1) >> 1
                for y0 in range(count):
                    assert ((rows[first[s, y0]] + rows[last[s, y0]] + 1) >> 1 == wins[k]).all(), (s, x0, y0)
                    k += 1
        assert k == len(wins)
    many = rng.integers(0, 256, (20, 64, 64), dtype=np.uint8)
    assert all((_small(many)[k] == pillow_small(many[k])).all() for k in range(20))
    with pytest.raises(ValueError):
        box_taps(0, 64, out_px=16)  # a reduction by 4: other weights


def crop_pair(rng, k: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth scene and a crop of it with noise; every fifth pair unrelated."""
    smooth = Image.fromarray(rng.integers(0, 256, (12, 12), dtype=np.uint8)).resize((96, 96), Image.Resampling.BICUBIC)
    x, y = (int(v) for v in rng.integers(0, 20, 2))
    w = int(rng.integers(70, 97 - max(x, y)))
    a = np.asarray(smooth.resize((64, 64), Image.Resampling.BOX))
    b = np.asarray(smooth.resize((64, 64), Image.Resampling.BOX, box=(x, y, x + w, y + w)))
    b = np.clip(b.astype(int) + rng.integers(-3, 4, b.shape), 0, 255).astype(np.uint8)
    if k % 5 == 0:
        b = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    return (b, a) if k % 3 == 0 else (a, b)


def test_crop_search_is_exact_where_it_can_change_a_verdict():
    rng = np.random.default_rng(1)
    pairs = [crop_pair(rng, k) for k in range(30)]
    found = 0
    for limit in (10.0, 16.0, float("inf")):
        sigs = np.stack([s for pair in pairs for s in pair])
        bulk = compare_signatures(sigs, [(2 * k, 2 * k + 1) for k in range(len(pairs))], np.full(len(pairs), limit))
        for (a, b), got in zip(pairs, bulk):
            want = pillow_compare(a, b, min(limit, 255.0))
            assert got == compare_pixels(a, b, crop_limit_mad=limit)
            assert got == want
            found += want["crop_mad"] is not None
    assert found >= 30  # most crops are found
    a, b = pairs[1]
    assert compare_pixels(a, b, crop_search=False)["crop_mad"] is None
