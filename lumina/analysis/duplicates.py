"""Duplicate detection: exact copies and same-image copies, told apart from look-alikes.

Classes: ``exact`` (same SHA-256: one asset, several files), ``same_image`` (re-encoded, resized,
slightly cropped, converted, rotated with a compensating EXIF orientation, metadata stripped) and
``derivative`` (visible edit or substantial crop: reported, never auto-resolved). ``burst_sibling``
and ``similar`` pairs are never grouped.

Pipeline (rule version ``RULE_VERSION``):

1. Candidates: every pair within ``duplicate_radius_bits`` on pHash, aHash or wHash
   (``lumina.analysis.hamming``: compiled pigeonhole search, no all-pairs loop). Degenerate hashes
   (flat images) are skipped; "not duplicates" feedback removes pairs.
2. Verification of each candidate pair on several signals, all kept as evidence:
   per-hash Hamming distances; aspect ratio; the 64x64 grey signatures compared as 32x32 mean
   absolute difference (MAD, grey levels) as they are and after the best crop of either side
   (square windows at scales 0.96-0.72, 1 px steps: ``crop_windows``, searched by compiled code
   that computes Pillow's exact windows, for all pairs at once, and stops at the crops that can no
   longer change the verdict; the best square then refined to a rectangle, each edge moved up to
   ``CROP_REFINE_PX``: ``refined_boxes``), with local bounds on both (the worst 4x4 block
   uncropped, ``LOCAL_MAD``; the worst 4x4 region of the crop, ``CROP_LOCAL_MAD``) and the share of
   pixels that show something besides each image's background (``content_share``, which weighs
   derivative verdicts); capture time and camera: two frames of one camera with trusted
   capture times apart by more than 0 and at most ``burst_max_gap_s``, or two frames of one
   detected burst (``lumina.analysis.bursts``; a BurstUUID burst too), are ``burst_sibling``,
   further apart ``similar`` (different shots), however alike.
   Thresholds (calibrated on ../shared/eval/dev, see tests/analysis/test_duplicates.py):
   uncropped copies MAD <= 3.5 (dev max 2.1); crops to scale >= 0.84 (<= 8 % a side) with MAD <= 10
   (dev max 6.6), or <= 16 when camera and trusted capture time are identical (the same shot), and
   3 levels better than uncropped, and no 4x4 region off by more than 28 (dev max 20.6); a smaller
   scale, a crop with a region that differs or an uncropped MAD up to 22 (MADs divided by the
   content share) is a ``derivative``; anything else ``similar``.
3. Grouping that cannot chain: edges are merged in order of increasing MAD into clusters only when
   every cross pair is itself a verified edge (complete linkage), up to ``duplicate_max_group``.
4. Keeper by a documented ranking (see ``keeper_order``).

Results are written as a new generation and swapped in atomically (``lumina.analysis.generations``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numba
import numpy as np
from PIL import Image
from sqlalchemy import func, select

from lumina.analysis.hamming import nearest_within
from lumina.analysis.rules import DUPLICATES_RULE_VERSION as RULE_VERSION  # its history is there
from lumina.analysis.rules import DUPLICATES_SETTING_NAMES as SETTING_NAMES
from lumina.catalog.models import (Asset, CaptureDate, DuplicateFeedback, FileInstance, Metadata, PerceptualHash,
                                   Quality)
from lumina.errors import ConfigError
from lumina.stages.dates import GROUPED_RANKS
from lumina.stages.hashes import SIGNATURE_PX, hamming_distance, to_unsigned

COPY_MAD = 3.5  # grey levels: uncropped copies (dev max 2.1)
CROP_MAD = 10.0  # grey levels: best-crop copies (dev max 6.6 refined to a rectangle; 9.5 with square windows only)
PIXEL_IDENTICAL_MAD = 1.0  # grey levels: the same pixels up to rounding (a 16-bit PNG and its 8-bit twin)
SAME_SHOT_CROP_MAD = 16.0  # when camera and trusted capture time are identical (same shot), dev max 14.3
CROP_MIN_SCALE = 0.84  # 8 % off each side (geometric mean of the sides of the refined crop; dev crops from 0.86)
# 10 % off each side when camera and trusted capture time say it is the same shot; a 75 % crop
# (an edit of eval/dev, scale 0.76 at best) stays a derivative
SAME_SHOT_MIN_SCALE = 0.80
DERIVATIVE_MAD = 22.0
# columns of ``signature_distances``
PIXEL_KEYS = ("mad", "crop_mad", "crop_scale", "local_mad", "crop_local_mad", "content_share")
BACKGROUND_TOLERANCE = 8  # grey levels: a pixel this close to its image's most common grey is background
# grey levels: the largest 4x4-block MAD of an uncropped copy. Dev copies reach 7.2 (a 25 % resize);
# template pairs (another portrait on one form, tests/analysis/test_duplicates_library.py) start at
# 30.6: 16 leaves 8.8 above and 14.6 below (benchmarks/margins_dev.py)
LOCAL_MAD = 16.0
# grey levels: the largest mean difference of a 4x4 region (any position) of the 32x32 comparison of a
# crop match (its best window, refined), signed so that the half-pixel misalignment of a crop's window
# cancels out while a region that differs (a watermark, an object, another face) does not. True crops
# of eval/dev reach 20.6 and 57 crops of 4-8 % of its originals 21.2; watermarks on such crops start
# at 34.3, a crop against a 75 % crop-edit (eval/dev's derivative) at 38.9: 28 leaves 6.8 and 6.3
CROP_LOCAL_MAD = 28.0
TRANSITIVITY_CHECK = 256  # members: up to this, keeper_order compares every pair (O(n^2))
# hashes searched for candidates: pHash and aHash, and wHash, which a crop of 10 % a side moves least
# (DSCN0010 of eval/dev cropped 10 %: aHash 12, pHash 20, wHash 8 bits)
CANDIDATE_HASHES = ("phash", "ahash", "whash")
VERIFY_CHUNK = 65_536  # candidate pairs verified at a time (arrays of a few MiB)
SEARCH_BUDGET = 4096  # hashes examined per distinct hash and chunk before the candidate search is capped
CROP_SCALES = (0.96, 0.92, 0.88, 0.84, 0.80, 0.76, 0.72)
# px of the 64x64 signature: each edge of the best square window moves by up to this much when the
# search refines it to a rectangle (a crop that cut 3 % from the sides and 8 % from top and bottom
# is no square: eval/dev's crop/ cuts every side on its own)
CROP_REFINE_PX = 2
TRUSTED_SOURCES = ("EXIF:DateTimeOriginal", "QuickTime:CreationDate", "XMP:DateTimeOriginal", "EXIF:CreateDate",
                   "sidecar XMP:DateTimeOriginal", "user")


def is_trusted_time_source(source: str | None) -> bool:
    """True for a capture time the camera or the user wrote: ``TRUSTED_SOURCES``, or a shutter-time
    tag of any other group (maker notes, QuickTime atoms, H.264 streams: ``GROUPED_RANKS`` of
    ``lumina.stages.dates``, e.g. ``FLIR:DateTimeOriginal``); never a file name, folder, mtime or GPS time."""
    return bool(source) and (source in TRUSTED_SOURCES or source.rsplit(":", 1)[-1] in GROUPED_RANKS)


LOSSLESS = {"png", "tiff", "bmp", "psd"}
CAMERA_FORMATS = {"raw", "jpeg", "heic", "heif", "tiff"}  # what cameras and phones write; WebP/PNG/GIF are conversions
CLASSES = ("similar", "same_image", "derivative", "burst_sibling", "live_photo")  # pair classes, by code
KEPT_CLASSES = [CLASSES.index(c) for c in ("same_image", "derivative", "live_photo")]  # pairs a run keeps
LIVE_NAME, LIVE_CONTENT_ID = 1, 2  # how a still and a video were matched as one Live Photo / Motion Photo
# grey levels: a Live Photo's first video frame against its still, matched by name only; the video
# is scaled and re-encoded, and starts up to 1.5 s before the still (Apple), so looser than COPY_MAD
LIVE_PHOTO_MAD = 12.0
CONTENT_ID_TAGS = ("MakerNotes:ContentIdentifier", "QuickTime:ContentIdentifier")


@dataclass
class Item:
    """What duplicate detection knows about one asset."""

    asset_id: str
    paths: list[str]
    file_type: str
    media_kind: str
    size_bytes: int
    width: int | None = None
    height: int | None = None
    hashes: dict[str, int] = field(default_factory=dict)
    degenerate: bool = False
    signature: np.ndarray | None = None
    has_signature: bool = False
    camera: tuple | None = None
    capture_time: str | None = None
    capture_instant: datetime | None = None  # local wall-clock time (naive)
    utc_s: float = math.nan  # capture instant, seconds since the epoch in UTC; NaN when the offset is unknown
    local_s: float = math.nan  # wall-clock capture time as if it were UTC, seconds; NaN when none
    time_trusted: bool = False
    quality: float | None = None
    richness: int = 0
    burst: int | None = None  # burst id in the current burst generation
    content_id: str | None = None  # Apple's ContentIdentifier (Live Photo still and video share it)
    live_key: tuple[str, str] | None = None  # (folder, lower-case name stem) of the first path

    @property
    def pixels(self) -> int:
        return (self.width or 0) * (self.height or 0)


@numba.njit(cache=True)
def _small(sigs):
    """Signatures uint8 (M, 64, 64) shrunk to uint8 (M, 32, 32) exactly as Pillow's BOX resize
    does: rounded means of pixel pairs along rows, then along columns (see ``box_taps``)."""
    out = np.empty((len(sigs), 32, 32), np.uint8)
    for m in range(len(sigs)):
        for r in range(32):
            for c in range(32):
                top = (np.int32(sigs[m, 2 * r, 2 * c]) + sigs[m, 2 * r, 2 * c + 1] + 1) >> 1
                bottom = (np.int32(sigs[m, 2 * r + 1, 2 * c]) + sigs[m, 2 * r + 1, 2 * c + 1] + 1) >> 1
                out[m, r, c] = (top + bottom + 1) >> 1
    return out


def crop_boxes() -> list[tuple[int, int, int, int]]:
    """The square crop windows of the 64x64 signature at ``CROP_SCALES`` (1 px steps), in search
    order, as (x_first, x_end, y_first, y_end) signature px."""
    boxes = []
    for scale in CROP_SCALES:
        w = int(round(SIGNATURE_PX * scale))
        boxes += [(x0, x0 + w, y0, y0 + w) for x0 in range(SIGNATURE_PX - w + 1) for y0 in range(SIGNATURE_PX - w + 1)]
    return boxes


def refined_boxes(box: tuple[int, int, int, int], reach: int = CROP_REFINE_PX) -> list[tuple[int, int, int, int]]:
    """The rectangles ``_refine_crop`` tries around a square box (``crop_boxes``), in its order:
    each edge moved by up to ``reach`` px, spans of 32-64 px."""
    x0, x1, y0, y1 = box
    n = SIGNATURE_PX
    xs = [(a, b) for a in range(max(0, x0 - reach), x0 + reach + 1)
          for b in range(x1 - reach, min(n, x1 + reach) + 1) if 32 <= b - a <= n]
    ys = [(a, b) for a in range(max(0, y0 - reach), y0 + reach + 1)
          for b in range(y1 - reach, min(n, y1 + reach) + 1) if 32 <= b - a <= n]
    return [(xa, xb, ya, yb) for xa, xb in xs for ya, yb in ys]


def crop_windows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every square window of a 64x64 signature (``crop_boxes``), each resized to 32x32 with
    Pillow: (windows uint8 (K, 32, 32), their scales (K,)). The definition of the crop search;
    ``compare_pixels`` computes the same windows with ``CROP_TAPS``, far faster."""
    img = Image.fromarray(a)
    boxes = crop_boxes()
    wins = [np.asarray(img.resize((32, 32), Image.Resampling.BOX, box=(x0, y0, x1, y1))) for x0, x1, y0, y1 in boxes]
    scales = [s for s in CROP_SCALES for _ in range((SIGNATURE_PX - int(round(SIGNATURE_PX * s)) + 1) ** 2)]
    return np.stack(wins), np.array(scales)


def box_taps(in0: int, in1: int, out_px: int = 32, in_px: int = SIGNATURE_PX) -> tuple[np.ndarray, np.ndarray]:
    """Pillow's taps for one pass of a BOX resize of input pixels in0..in1 to ``out_px`` pixels,
    a reduction by a factor of 1 to 2, so that each output pixel covers one or two input pixels.

    Returns:
        (first, last) int64 (out_px,): output pixel k is (in[first[k]] + in[last[k]] + 1) >> 1,
        which is what Pillow's 22-bit fixed point gives for weights 1 or 1/2 + 1/2.
    Raises:
        ValueError: if the factor is outside 1..2 (other weights).
    Source: Pillow, src/libImaging/Resample.c (``precompute_coeffs``, ``box_filter``), followed
    step by step in double precision; tests compare every crop window with Pillow itself.
    """
    scale = (in1 - in0) / out_px
    if not 1.0 <= scale <= 2.0:
        raise ValueError(f"box_taps covers reductions by 1 to 2, not {scale}")
    first, last = np.zeros(out_px, np.int64), np.zeros(out_px, np.int64)
    for k in range(out_px):
        center = in0 + (k + 0.5) * scale
        lo, hi = max(int(center - 0.5 * scale + 0.5), 0), min(int(center + 0.5 * scale + 0.5), in_px)
        covered = [x for x in range(lo, hi) if -0.5 < (x - center + 0.5) * (1.0 / scale) <= 0.5]
        if not 1 <= len(covered) <= 2:
            raise ValueError(f"output pixel {k} covers {len(covered)} input pixels")
        first[k], last[k] = covered[0], covered[-1]
    return first, last


def _crop_taps() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``box_taps`` of every crop window position: (first (S, P, 32), last (S, P, 32), positions
    per scale (S,)), S = len(CROP_SCALES), P the most positions of any scale."""
    widths = [int(round(SIGNATURE_PX * scale)) for scale in CROP_SCALES]
    positions = np.array([SIGNATURE_PX - w + 1 for w in widths])
    first = np.zeros((len(widths), positions.max(), 32), np.int64)
    last = np.zeros((len(widths), positions.max(), 32), np.int64)
    for s, w in enumerate(widths):
        for o in range(positions[s]):
            first[s, o], last[s, o] = box_taps(o, o + w)
    return first, last, positions


CROP_TAPS = _crop_taps()


def _span_taps() -> tuple[np.ndarray, np.ndarray]:
    """``box_taps`` of every span in0..in1 of the signature that shrinks to 32 px by a factor 1-2:
    (first, last) int64 (65, 65, 32), indexed [in0, in1] (zeros where the span is not valid)."""
    first = np.zeros((SIGNATURE_PX + 1, SIGNATURE_PX + 1, 32), np.int64)
    last = np.zeros_like(first)
    for in0 in range(SIGNATURE_PX + 1):
        for in1 in range(in0 + 32, SIGNATURE_PX + 1):
            first[in0, in1], last[in0, in1] = box_taps(in0, in1)
    return first, last


SPAN_TAPS = _span_taps()


@numba.njit(cache=True)
def _best_crop(src, ref, limit, first, last, positions, pairs, rows, done):
    """Lowest sum of absolute differences (below ``limit``) between ref (32x32) and a crop window
    of src (64x64), windows in ``crop_windows`` order, the first of equal sums winning:
    (sum, scale index, x0, y0), or (limit, -1, -1, -1) when none is below. A window is left as soon
    as its partial sum reaches the best so far. pairs (64, 128), rows (64, 32), done (64,): scratch."""
    for y in range(SIGNATURE_PX):  # pairs[y, 2x] = src[y, x], pairs[y, 2x + 1] = rounded mean of x and x + 1
        for x in range(SIGNATURE_PX - 1):
            pairs[y, 2 * x] = src[y, x]
            pairs[y, 2 * x + 1] = (np.int32(src[y, x]) + src[y, x + 1] + 1) >> 1
        pairs[y, 2 * SIGNATURE_PX - 2] = pairs[y, 2 * SIGNATURE_PX - 1] = src[y, SIGNATURE_PX - 1]
    best, best_scale, best_x0, best_y0 = limit, -1, -1, -1
    for s in range(len(positions)):
        for x0 in range(positions[s]):
            done[:] = False  # Pillow resizes rows first, then columns; rows are made when first needed
            pick = 2 * first[s, x0] + (last[s, x0] - first[s, x0])
            for y0 in range(positions[s]):
                yf, yl = first[s, y0], last[s, y0]
                total = 0
                for r in range(32):
                    for y in (yf[r], yl[r]):
                        if not done[y]:
                            for c in range(32):
                                rows[y, c] = pairs[y, pick[c]]
                            done[y] = True
                    top, bottom, want = rows[yf[r]], rows[yl[r]], ref[r]
                    for c in range(32):
                        total += abs(((np.int32(top[c]) + bottom[c] + 1) >> 1) - want[c])
                    if total >= best:
                        break
                if total < best:
                    best, best_scale, best_x0, best_y0 = total, s, x0, y0
    return best, best_scale, best_x0, best_y0


@numba.njit(cache=True)
def _refine_crop(src, ref, best, x0, y0, w, span_first, span_last, reach, rows):
    """The best rectangle near the square window (x0, y0, width w) of src (64x64) against ref
    (32x32): each edge moved by up to ``reach`` px (left edges first, then right, then top, then
    bottom, in increasing order), the first strictly lower sum of absolute differences winning over
    ``best`` (the square's). Returns (sum, x_first, x_end, y_first, y_end) of the box in signature
    px; the square itself when nothing is lower. rows (64, 32): scratch."""
    box = (x0, x0 + w, y0, y0 + w)
    n = SIGNATURE_PX
    for xa in range(max(0, x0 - reach), x0 + reach + 1):
        for xb in range(x0 + w - reach, min(n, x0 + w + reach) + 1):
            if not 32 <= xb - xa <= n:
                continue
            fx, lx = span_first[xa, xb], span_last[xa, xb]
            for y in range(n):
                for c in range(32):
                    rows[y, c] = (np.int32(src[y, fx[c]]) + src[y, lx[c]] + 1) >> 1
            for ya in range(max(0, y0 - reach), y0 + reach + 1):
                for yb in range(y0 + w - reach, min(n, y0 + w + reach) + 1):
                    if not 32 <= yb - ya <= n:
                        continue
                    fy, ly = span_first[ya, yb], span_last[ya, yb]
                    total = 0
                    for r in range(32):
                        top, bottom, want = rows[fy[r]], rows[ly[r]], ref[r]
                        for c in range(32):
                            total += abs(((top[c] + bottom[c] + 1) >> 1) - want[c])
                        if total >= best:
                            break
                    if total < best:
                        best, box = total, (xa, xb, ya, yb)
    return best, box[0], box[1], box[2], box[3]


@numba.njit(cache=True)
def _window_block_max(src, ref, xa, xb, ya, yb, span_first, span_last):
    """The largest absolute sum of signed differences over every 4x4 region (29x29 positions)
    between ref (32x32) and the window (xa..xb, ya..yb, signature px) of src (64x64) shrunk to
    32x32 as ``_best_crop`` shrinks it (Pillow's BOX taps, rows first): ``CROP_LOCAL_MAD`` x 16."""
    fx, lx, fy, ly = span_first[xa, xb], span_last[xa, xb], span_first[ya, yb], span_last[ya, yb]
    win = np.empty((32, 32), np.int32)
    for r in range(32):
        for c in range(32):
            top = (np.int32(src[fy[r], fx[c]]) + src[fy[r], lx[c]] + 1) >> 1
            bottom = (np.int32(src[ly[r], fx[c]]) + src[ly[r], lx[c]] + 1) >> 1
            win[r, c] = (top + bottom + 1) >> 1
    diff = np.empty((33, 33), np.int32)  # summed-area table of the absolute differences
    diff[0, :], diff[:, 0] = 0, 0
    for r in range(32):
        for c in range(32):
            diff[r + 1, c + 1] = (win[r, c] - np.int32(ref[r, c]) + diff[r, c + 1] + diff[r + 1, c]
                                  - diff[r, c])
    worst = 0
    for r in range(29):
        for c in range(29):
            worst = max(worst, abs(diff[r + 4, c + 4] - diff[r, c + 4] - diff[r + 4, c] + diff[r, c]))
    return worst


@numba.njit(cache=True)
def _background(img):
    """The most common grey level of a 32x32 uint8 image (the lowest of equal counts)."""
    counts = np.zeros(256, np.int32)
    for r in range(32):
        for c in range(32):
            counts[img[r, c]] += 1
    return np.argmax(counts)


@numba.njit(parallel=True, cache=True)
def _abs_sums(smalls, pa, pb, sums, block_max, content):
    """For pairs (pa[p], pb[p]) of 32x32 uint8 images: the sum of absolute differences, the
    largest sum over the 64 blocks of 4x4 pixels, and the number of pixels where either image is
    more than ``BACKGROUND_TOLERANCE`` from its own background (``_background``)."""
    for p in numba.prange(len(pa)):
        a, b = smalls[pa[p]], smalls[pb[p]]
        back_a, back_b = np.int32(_background(a)), np.int32(_background(b))
        total, worst, shown = 0, 0, 0
        for br in range(8):
            for bc in range(8):
                block = 0
                for r in range(4 * br, 4 * br + 4):
                    for c in range(4 * bc, 4 * bc + 4):
                        block += abs(np.int32(a[r, c]) - np.int32(b[r, c]))
                        if (abs(np.int32(a[r, c]) - back_a) > BACKGROUND_TOLERANCE
                                or abs(np.int32(b[r, c]) - back_b) > BACKGROUND_TOLERANCE):
                            shown += 1
                total += block
                worst = max(worst, block)
        sums[p], block_max[p], content[p] = total, worst, shown


@numba.njit(parallel=True, cache=True)
def _crop_search(sigs, smalls, pa, pb, limits, first, last, positions, widths, span_first, span_last, reach,
                 out_sum, out_box, out_block):
    """``_best_crop`` for the pairs (pa[p], pb[p]): windows of a against b's 32x32, then windows
    of b against a's, b winning only when strictly better (the order of ``crop_windows``); the
    winner refined to a rectangle (``_refine_crop``). Out: the sum, the box (side 0: a window of a,
    1: of b; x_first, x_end, y_first, y_end; side -1 when no window is below the limit) and the
    box's largest 4x4-block sum (``_window_block_max``)."""
    for p in numba.prange(len(pa)):
        pairs, rows = np.empty((SIGNATURE_PX, 2 * SIGNATURE_PX), np.uint8), np.empty((SIGNATURE_PX, 32), np.uint8)
        done = np.empty(SIGNATURE_PX, np.bool_)
        best, scale, x0, y0 = _best_crop(sigs[pa[p]], smalls[pb[p]], limits[p], first, last, positions, pairs, rows,
                                         done)
        best_b, scale_b, x0_b, y0_b = _best_crop(sigs[pb[p]], smalls[pa[p]], best, first, last, positions, pairs,
                                                 rows, done)
        out_box[p, 0], out_sum[p], out_block[p] = -1, best, -1
        if scale_b >= 0:
            side, src, ref, best, scale, x0, y0 = 1, sigs[pb[p]], smalls[pa[p]], best_b, scale_b, x0_b, y0_b
        elif scale >= 0:
            side, src, ref = 0, sigs[pa[p]], smalls[pb[p]]
        else:
            continue
        wide = np.empty((SIGNATURE_PX, 32), np.int32)
        total, xa, xb, ya, yb = _refine_crop(src, ref, best, x0, y0, widths[scale], span_first, span_last, reach, wide)
        out_sum[p] = total
        out_box[p, 0], out_box[p, 1], out_box[p, 2], out_box[p, 3], out_box[p, 4] = side, xa, xb, ya, yb
        out_block[p] = _window_block_max(src, ref, xa, xb, ya, yb, span_first, span_last)


def compare_signatures(sigs: np.ndarray, pairs: np.ndarray, crop_limits_mad: np.ndarray | None = None,
                       batch: int = 4096, smalls: np.ndarray | None = None) -> list[dict[str, float | None]]:
    """``compare_pixels`` for many pairs at once, in parallel.

    Args:
        sigs: uint8 (M, 64, 64) signatures.
        pairs: int (P, 2) indexes into sigs.
        crop_limits_mad: float (P,) grey levels, or None for no crop search: per pair, the largest
            crop MAD that can change the pair's verdict (see ``compare_pixels``); 0: none searched.
        smalls: uint8 (M, 32, 32), ``_small(sigs)`` when the caller keeps it across calls.
    Returns:
        P dicts with the keys of ``PIXEL_KEYS``, as ``compare_pixels`` gives them.
    """
    return [pixel_doc(row) for row in signature_distances(sigs, pairs, crop_limits_mad, batch, smalls)]


def pixel_doc(row: np.ndarray) -> dict[str, float | None]:
    """One row of ``signature_distances`` as a dict of ``PIXEL_KEYS`` (None for NaN)."""
    return {k: None if math.isnan(v) else float(v) for k, v in zip(PIXEL_KEYS, row.tolist())}


def signature_distances(sigs: np.ndarray, pairs: np.ndarray, crop_limits_mad: np.ndarray | None = None,
                        batch: int = 4096, smalls: np.ndarray | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``compare_signatures`` as one float64 array (P, len(PIXEL_KEYS)), NaN where
    ``compare_signatures`` gives None. ``local_mad``: the largest MAD of the 64 blocks of 4x4 pixels
    of the uncropped 32x32 comparison (grey levels): a small region that differs completely
    (another name on a certificate, another portrait on a form) counts fully there, while the
    whole-image MAD averages it away."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    out = np.full((len(pairs), len(PIXEL_KEYS)), np.nan)
    if not len(pairs):
        return out
    smalls = _small(sigs) if smalls is None else smalls
    sums, block_max, content = (np.zeros(len(pairs), np.int64) for _ in range(3))
    _abs_sums(smalls, pairs[:, 0].copy(), pairs[:, 1].copy(), sums, block_max, content)
    out[:, 0] = np.round(sums / 1024, 3)  # exact: sums of integers, as numpy's float32 mean of the differences
    out[:, 3] = np.round(block_max / 16, 3)
    out[:, 5] = np.round(content / 1024, 4)
    mads = out[:, 0]
    if crop_limits_mad is None:
        return out
    todo = np.flatnonzero((mads > COPY_MAD) & (np.asarray(crop_limits_mad) > 0))  # a limit of 0: no search
    # + 2: crops whose MAD rounds (to 0.001) to the limit are searched too
    limits = (np.minimum(np.asarray(crop_limits_mad, dtype=np.float64)[todo], mads[todo] - 3) * 1024).astype(np.int64) + 2
    best, block, box = np.zeros(len(todo), np.int64), np.zeros(len(todo), np.int64), np.zeros((len(todo), 5), np.int64)
    widths = np.array([int(round(SIGNATURE_PX * scale)) for scale in CROP_SCALES], np.int64)
    _crop_search(sigs, smalls, pairs[todo, 0], pairs[todo, 1], limits, *CROP_TAPS, widths, *SPAN_TAPS,
                 CROP_REFINE_PX, best, box, block)
    found = box[:, 0] >= 0
    out[todo[found], 1] = np.round(best[found] / 1024, 3)
    # linear scale of the kept area: the geometric mean of the box's sides
    # (to 0.01, as the square windows' scales are given: 51 px of 64 is 0.80)
    out[todo[found], 2] = np.round(np.sqrt((box[found, 2] - box[found, 1]) * (box[found, 4] - box[found, 3]))
                                   / SIGNATURE_PX, 2)
    out[todo[found], 4] = np.round(block[found] / 16, 3)
    return out


def compare_pixels(a: np.ndarray, b: np.ndarray, crop_search: bool = True,
                   crop_limit_mad: float = float("inf")) -> dict[str, float | None]:
    """Signature comparison of two 64x64 uint8 signatures, both shrunk to 32x32 (Pillow BOX).

    Returns:
        ``mad``: mean absolute difference uncropped, grey levels 0-255 (rounded to 0.001);
        ``local_mad``: the largest 4x4-block MAD of that comparison (see ``signature_distances``);
        ``crop_mad``, ``crop_scale``: when ``mad`` > ``COPY_MAD``, the best square crop of either
        side (``crop_windows``) against the other, among the crops with a MAD of at most
        ``crop_limit_mad`` and ``mad`` - 3 (the only ones ``verify`` can use: a worse crop changes
        no verdict), refined to a rectangle by moving each edge up to ``CROP_REFINE_PX``
        (``_refine_crop``), as MAD and scale 0-1 (geometric mean of the sides, to 0.01); None when
        there is none;
        ``crop_local_mad``: that crop's largest 4x4-region mean difference (``_window_block_max``),
        grey levels; None without a crop;
        ``content_share``: the share (0-1) of the 32x32 pixels where either image is more than
        ``BACKGROUND_TOLERANCE`` from its own most common grey level (``_background``).
    """
    limits = None if not crop_search else np.array([min(crop_limit_mad, 255.0)])
    return compare_signatures(np.stack([a, b]), np.array([[0, 1]]), limits)[0]


def gap_s(same_camera: np.ndarray, utc_a: np.ndarray, utc_b: np.ndarray, local_a: np.ndarray,
          local_b: np.ndarray) -> np.ndarray:
    """Seconds between the capture times of pairs of photos of one camera with trusted times, NaN
    for other pairs. Times are seconds (``Item.utc_s``, ``Item.local_s``, NaN when unknown): UTC
    instants when both sides know their offset, else the wall-clock local times, since a copy that
    lost (or gained) its offset on export keeps the local time of the original (a UTC instant is
    never compared with a naive local time). Arrays of one shape, or scalars."""
    both_utc = ~np.isnan(utc_a) & ~np.isnan(utc_b)
    gap = np.where(both_utc, np.abs(np.asarray(utc_a) - utc_b), np.abs(np.asarray(local_a) - local_b))
    return np.where(same_camera, gap, np.nan)


def capture_gap_s(a: Item, b: Item) -> float | None:
    """``gap_s`` of two items: seconds between two photos of one camera with trusted capture times, else None."""
    same = bool(a.time_trusted and b.time_trusted and a.camera and a.camera == b.camera)
    gap = float(gap_s(same, a.utc_s, b.utc_s, a.local_s, b.local_s))
    return None if math.isnan(gap) else gap


def crop_limit_mad(gap_s: float | None) -> float:
    """Largest best-crop MAD of a same-image copy: more for the same shot (identical camera and
    trusted capture time)."""
    return SAME_SHOT_CROP_MAD if gap_s == 0 else CROP_MAD


def same_burst(a: Item, b: Item, gap_s: float | None) -> bool:
    """Two frames of one detected burst (not one shot stored twice: same trusted capture time)."""
    return a.burst is not None and a.burst == b.burst and gap_s != 0


def needs_pixels(gap: np.ndarray, burst_pair: np.ndarray) -> np.ndarray:
    """Pairs whose class depends on their pixels: not frames of one burst, and no capture-time
    verdict (times unknown, or the same shot). ``gap``: ``gap_s``; ``burst_pair``: ``same_burst``."""
    return ~np.asarray(burst_pair) & ~(np.asarray(gap) > 0)


def pair_class(gap: np.ndarray, burst_pair: np.ndarray, mixed_kinds: np.ndarray, live_pair: np.ndarray,
               mad: np.ndarray, crop_mad: np.ndarray, crop_scale: np.ndarray, local_mad: np.ndarray,
               crop_local_mad: np.ndarray, content_share: np.ndarray, max_gap_s: float) -> np.ndarray:
    """The class of candidate pairs (indexes into ``CLASSES``), first rule that applies:

    frames of one burst, or photos of one camera with trusted times 0-``max_gap_s`` apart:
    ``burst_sibling``; further apart: ``similar``; a video and a still (``mixed_kinds``) are never
    the same image: ``live_photo`` when ``live_pair`` (``LIVE_CONTENT_ID``: Apple's content
    identifier, or ``LIVE_NAME``: same folder and name stem with a first frame within
    ``LIVE_PHOTO_MAD``), else ``similar``; uncropped MAD <= ``COPY_MAD``: ``same_image`` when no
    4x4 block differs by more than ``LOCAL_MAD`` (else ``similar``: one template, another name or
    portrait in a small region); a best
    crop within ``crop_limit_mad``, 3 levels better than uncropped and with no 4x4 region off by more
    than ``CROP_LOCAL_MAD`` (``crop_local_mad``): ``same_image`` at scale >= ``CROP_MIN_SCALE``
    (``SAME_SHOT_MIN_SCALE`` for the same shot: ``gap`` 0), else ``derivative``; MAD <=
    ``DERIVATIVE_MAD`` or a crop within ``CROP_MAD`` (a crop with a region that differs: an object
    added or removed, a watermark): ``derivative``; else ``similar``. Derivative verdicts weigh
    the MADs by the pair's ``content_share`` (MAD / share: the mean difference where either image
    shows something besides its background): two drawings on one white page agree on the page,
    which is no evidence that one is an edit of the other.

    Args: arrays of one shape (or scalars): ``gap`` seconds (``gap_s``, NaN unknown), booleans,
        ``live_pair`` int (0, ``LIVE_NAME``, ``LIVE_CONTENT_ID``), MADs in grey levels (NaN: none),
        ``crop_scale`` 0-1.
    Returns: int8 array of the same shape.
    """
    gap, mad, crop_mad, crop_scale, local_mad, crop_local_mad, share = (
        np.asarray(x, dtype=np.float64)
        for x in (gap, mad, crop_mad, crop_scale, local_mad, crop_local_mad, content_share))
    limit = np.where(gap == 0, SAME_SHOT_CROP_MAD, CROP_MAD)
    cropped = (crop_mad <= limit) & (crop_mad < mad - 3) & ~(crop_local_mad > CROP_LOCAL_MAD)
    with np.errstate(divide="ignore", invalid="ignore"):  # share 0: two blank pages, NaN: no pixels compared
        content_mad, content_crop_mad = mad / share, crop_mad / share
    min_scale = np.where(gap == 0, SAME_SHOT_MIN_SCALE, CROP_MIN_SCALE)
    code = {c: k for k, c in enumerate(CLASSES)}
    return np.select(
        [np.asarray(burst_pair) | ((gap > 0) & (gap <= max_gap_s)), gap > max_gap_s,
         np.asarray(mixed_kinds) & ((live_pair == LIVE_CONTENT_ID) | ((live_pair == LIVE_NAME) & (mad <= LIVE_PHOTO_MAD))),
         np.asarray(mixed_kinds), (mad <= COPY_MAD) & (local_mad > LOCAL_MAD), mad <= COPY_MAD,
         cropped & (crop_scale >= min_scale), cropped & (content_crop_mad <= limit),
         (content_mad <= DERIVATIVE_MAD) | (content_crop_mad <= CROP_MAD)],
        [code["burst_sibling"], code["similar"], code["live_photo"], code["similar"], code["similar"], code["same_image"],
         code["same_image"], code["derivative"], code["derivative"]], code["similar"]).astype(np.int8)


def live_pair_kind(a: Item, b: Item) -> int:
    """``LIVE_CONTENT_ID`` when a still and a video share Apple's content identifier, ``LIVE_NAME``
    when they share folder and name stem (IMG_0001.HEIC + IMG_0001.MOV, PXL_..MP.jpg exports), else 0."""
    if (a.media_kind == "video") == (b.media_kind == "video"):
        return 0
    if a.content_id and a.content_id == b.content_id:
        return LIVE_CONTENT_ID
    return LIVE_NAME if a.live_key and a.live_key == b.live_key else 0


def verify(a: Item, b: Item, settings: dict[str, Any], pixels: dict | None = None) -> tuple[str, dict[str, Any]]:
    """Class of a candidate pair (``CLASSES``) and its evidence (every distance computed), by
    ``pair_class``. ``pixels``: the pair's ``compare_pixels`` result when already computed (with
    ``crop_limit_mad(capture_gap_s(a, b))``)."""
    ev: dict[str, Any] = {k: hamming_distance(a.hashes[k], b.hashes[k]) for k in ("ahash", "dhash", "phash", "whash")
                          if k in a.hashes and k in b.hashes}
    if a.width and a.height and b.width and b.height:
        ev["aspect_log_ratio"] = round(abs(math.log((a.width / a.height) / (b.width / b.height))), 4)
    gap = capture_gap_s(a, b)
    if gap is not None:
        ev["capture_gap_s"] = round(gap, 3)
    burst_pair = same_burst(a, b, gap)
    if burst_pair:
        ev["burst"] = a.burst
    live = live_pair_kind(a, b)
    if live:
        ev["live_photo"] = "content identifier" if live == LIVE_CONTENT_ID else "same folder and name"
    gap_value = np.nan if gap is None else gap
    if pixels is not None:
        ev.update(pixels)
    elif needs_pixels(gap_value, burst_pair) and a.signature is not None and b.signature is not None:
        ev.update(compare_pixels(a.signature, b.signature, crop_limit_mad=crop_limit_mad(gap)))
    nan = float("nan")
    cls = pair_class(gap_value, burst_pair, (a.media_kind == "video") != (b.media_kind == "video"), live,
                     ev.get("mad", nan), _none_nan(ev.get("crop_mad")), _none_nan(ev.get("crop_scale")),
                     _none_nan(ev.get("local_mad")), _none_nan(ev.get("crop_local_mad")),
                     _none_nan(ev.get("content_share")), float(settings["burst_max_gap_s"]))
    return CLASSES[int(cls)], ev


def _none_nan(x: float | None) -> float:
    return float("nan") if x is None else x


def load_items(session) -> dict[str, Item]:
    """Items for every asset with a present file, read with Core queries (no ORM objects).
    Signatures (4 KiB each) are not read here: ``has_signature`` says whether there is one, and
    ``load_signature_array`` reads those that a comparison needs."""
    items: dict[str, Item] = {}
    conn = session.connection()
    for aid, path, file_type, media_kind, size_bytes in conn.execute(
            select(FileInstance.asset_id, FileInstance.path, Asset.file_type, Asset.media_kind, Asset.size_bytes)
            .join(Asset, Asset.asset_id == FileInstance.asset_id)
            .where(FileInstance.status == "present", Asset.status == "active").order_by(FileInstance.path)).all():
        item = items.get(aid)
        if item is None:
            item = items[aid] = Item(aid, [], file_type, media_kind, size_bytes)
        item.paths.append(path)
    for aid, ahash, dhash, phash, whash, degenerate, has_signature in conn.execute(
            select(PerceptualHash.asset_id, PerceptualHash.ahash, PerceptualHash.dhash, PerceptualHash.phash,
                   PerceptualHash.whash, PerceptualHash.degenerate, func.length(PerceptualHash.signature) > 0)).all():
        it = items.get(aid)
        if it is not None:
            it.hashes = {"ahash": to_unsigned(ahash), "dhash": to_unsigned(dhash), "phash": to_unsigned(phash),
                         "whash": to_unsigned(whash)}
            it.degenerate, it.has_signature = degenerate, bool(has_signature)
    for m in conn.execute(select(Metadata.asset_id, Metadata.width, Metadata.height, Metadata.camera_make,
                                 Metadata.camera_model, Metadata.camera_serial, Metadata.lens,
                                 Metadata.gps_latitude, Metadata.exposure_time_s)).all():
        if m.asset_id in items:
            it = items[m.asset_id]
            it.width, it.height = m.width, m.height
            if m.camera_make or m.camera_model:
                it.camera = (m.camera_make, m.camera_model, m.camera_serial)
            it.richness = sum(v is not None for v in (m.camera_make or m.camera_model, m.lens, m.gps_latitude,
                                                      m.exposure_time_s))
    for aid, capture_time, source, flags, capture_time_utc in conn.execute(
            select(CaptureDate.asset_id, CaptureDate.capture_time, CaptureDate.capture_time_source, CaptureDate.flags,
                   CaptureDate.capture_time_utc)).all():
        if aid in items and capture_time:
            it = items[aid]
            it.capture_time = capture_time
            it.time_trusted = is_trusted_time_source(source) and "suspicious" not in (flags or [])
            it.richness += it.time_trusted
            it.capture_instant = datetime.fromisoformat(capture_time[:26])
            it.local_s = it.capture_instant.replace(tzinfo=timezone.utc).timestamp()
            if capture_time_utc:
                it.utc_s = datetime.fromisoformat(capture_time_utc.rstrip("Z")[:26]).replace(tzinfo=timezone.utc).timestamp()
    content_id = func.coalesce(*(Metadata.tags[tag].as_string() for tag in CONTENT_ID_TAGS))
    for aid, cid in conn.execute(select(Metadata.asset_id, content_id).where(content_id.is_not(None))).all():
        if aid in items:
            items[aid].content_id = cid
    for it in items.values():
        folder, _, name = it.paths[0].rpartition("/")
        it.live_key = (folder, name.rsplit(".", 1)[0].lower())
    for aid, score in conn.execute(select(Quality.asset_id, Quality.score)).all():
        if aid in items:
            items[aid].quality = score
    return items


def keeper_order(members: list[Item], evidence: dict[tuple[str, str], dict]) -> tuple[Item, str]:
    """The copy to keep and why, each deciding rule stated once with the values compared.

    Ranking, first difference wins: ``raw`` (RAW over everything), ``camera_format`` (for the same
    pixels at the same size, a camera format (JPEG, HEIC, TIFF) over a conversion (WebP, PNG, GIF)),
    ``pixels`` (more), ``lossless`` (a lossless file over a lossy one of the same size only when their
    pixels differ, since a lossless re-wrap of a JPEG adds nothing), ``quality`` (pixel quality score, by more than 2 points), ``metadata`` (more of capture
    date, camera, lens, GPS, exposure), ``capture_time`` (earliest), ``bytes`` (fewer: padding a
    file with junk never makes it the keeper), then the path. The keeper is the member that wins
    against every other one by these rules (when the rules are not transitive among three or more
    members, the one winning most comparisons, then the first path; for more than
    ``TRANSITIVITY_CHECK`` members, a similar-set, the winner of one pass).
    """
    def pixel_same(a: Item, b: Item) -> bool:
        ev = evidence.get((a.asset_id, b.asset_id)) or evidence.get((b.asset_id, a.asset_id)) or {}
        # the same pixels up to re-encoding (dev conversions: <= 0.42), at the same size
        return ev.get("mad", 99) <= 1.0 and a.pixels == b.pixels

    def decide(a: Item, b: Item) -> tuple[str, bool]:
        """The first rule that tells a from b, and whether a wins by it."""
        if (a.file_type == "raw") != (b.file_type == "raw"):
            return "raw", a.file_type == "raw"
        if (a.file_type in CAMERA_FORMATS) != (b.file_type in CAMERA_FORMATS) and pixel_same(a, b):
            return "camera_format", a.file_type in CAMERA_FORMATS
        if a.pixels != b.pixels:
            return "pixels", a.pixels > b.pixels
        if (a.file_type in LOSSLESS) != (b.file_type in LOSSLESS) and not pixel_same(a, b):
            return "lossless", a.file_type in LOSSLESS
        if a.quality is not None and b.quality is not None and abs(a.quality - b.quality) > 2:
            return "quality", a.quality > b.quality
        if a.richness != b.richness:
            return "metadata", a.richness > b.richness
        if a.capture_instant and b.capture_instant and a.capture_instant != b.capture_instant:
            return "capture_time", a.capture_instant < b.capture_instant
        if a.size_bytes != b.size_bytes:
            return "bytes", a.size_bytes < b.size_bytes
        return "path", a.paths[0] < b.paths[0]

    best = members[0]
    for other in members[1:]:  # one pass; then check that it beats everyone (the rules may not be transitive)
        if decide(other, best)[1]:
            best = other
    if len(members) <= TRANSITIVITY_CHECK and any(decide(o, best)[1] for o in members if o is not best):
        wins = {m.asset_id: sum(decide(m, o)[1] for o in members if o is not m) for m in members}
        best = min(members, key=lambda m: (-wins[m.asset_id], m.paths[0]))
    if len(members) == 1:
        return best, "only member"
    beaten: dict[str, list[Item]] = {}
    for other in members:
        if other is not best:
            beaten.setdefault(decide(best, other)[0], []).append(other)
    texts = {
        "raw": lambda os: f"RAW original ({best.file_type}) over {_listed(o.file_type for o in os)}",
        "camera_format": lambda os: (f"camera format ({best.file_type}) over the conversion "
                                     f"{_listed(o.file_type for o in os)} of the same pixels"),
        "lossless": lambda os: f"lossless {best.file_type} over lossy {_listed(o.file_type for o in os)}",
        "pixels": lambda os: f"most pixels: {best.width}x{best.height} (others {_listed(f'{o.width}x{o.height}' for o in os)})",
        "quality": lambda os: f"best quality score: {best.quality:.1f} (others {_listed(f'{o.quality:.1f}' for o in os)})",
        "metadata": lambda os: (f"richest metadata: {best.richness} of capture date, camera, lens, GPS, exposure "
                                f"(others {_listed(str(o.richness) for o in os)})"),
        "capture_time": lambda os: f"earliest capture time: {best.capture_time} (others {_listed(o.capture_time for o in os)})",
        "bytes": lambda os: f"fewest bytes: {best.size_bytes} (others {_listed(str(o.size_bytes) for o in os)})",
        "path": lambda os: "all else equal: first path in name order",
    }
    return best, "; ".join(texts[rule](os) for rule, os in beaten.items())


def _listed(values, most: int = 5) -> str:
    """Distinct values, at most ``most`` of them named."""
    distinct = list(dict.fromkeys(str(v) for v in values))
    return ", ".join(distinct[:most]) + (f" and {len(distinct) - most:,} more" if len(distinct) > most else "")


@dataclass
class Group:
    """One result of a run: ``group_class`` is ``exact`` or ``same_image`` (duplicate groups),
    ``live_photo`` (a still and its motion video), ``derivative`` (a pair: an edit or strong crop)
    or ``similar_set`` (a cluster too big to be a duplicate group)."""

    group_class: str
    reason: str
    keeper: str
    keeper_path: str | None
    keeper_reason: str
    members: list[dict[str, Any]]


def _encode(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Pairs of indexes < n as sorted int64 keys min * n + max."""
    return np.minimum(a, b).astype(np.int64) * n + np.maximum(a, b)


@numba.njit(cache=True)
def _cross_pairs(neighbours, starts, members, k, n):
    """For each distinct hash u (rows of ``neighbours``, -1 padded, nearest first): up to k assets
    of its neighbouring hashes, nearest hash first, each paired with every asset of u. Assets of
    hash u are members[starts[u]:starts[u + 1]]. Returns int64 keys (see ``_encode``)."""
    total = 0
    picked = np.zeros(len(neighbours), np.int64)
    for u in range(len(neighbours)):
        got = 0
        for q in neighbours[u]:
            if q < 0 or got >= k:
                break
            got += min(k - got, starts[q + 1] - starts[q])
        picked[u] = got
        total += got * (starts[u + 1] - starts[u])
    out = np.empty(total, np.int64)
    at = 0
    for u in range(len(neighbours)):
        got = 0
        for q in neighbours[u]:
            if q < 0 or got >= picked[u]:
                break
            for r in range(starts[q], min(starts[q + 1], starts[q] + picked[u] - got)):
                b = members[r]
                for s in range(starts[u], starts[u + 1]):
                    a = members[s]
                    out[at] = min(a, b) * n + max(a, b)
                    at += 1
                got += 1
    return out


def same_code_pairs(codes: np.ndarray, k: int, n: int) -> np.ndarray:
    """Pairs of items with equal codes, each paired with the next ``k`` of its code (by index),
    so a code shared by m items gives O(m * k) pairs, not m^2 / 2. Returns int64 keys (``_encode``).
    ``codes``: any array (N,) that ``np.unique`` sorts."""
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    keys = []
    for step in range(1, k + 1):
        same = sorted_codes[step:] == sorted_codes[:-step]
        if not same.any():
            break
        keys.append(_encode(order[:-step][same], order[step:][same], n))
    return np.concatenate(keys) if keys else np.zeros(0, np.int64)


def candidate_pairs(codes: np.ndarray, radius: int, k: int, n: int | None = None) -> tuple[np.ndarray, int]:
    """Candidate pairs of the items whose hashes are ``codes`` (uint64 (N,)): identical hashes
    collapsed first, then each distinct hash's ``k`` nearest within ``radius`` (``nearest_within``).
    Every item is paired with the next k items of its own hash and with up to k items of the nearest
    other hashes, so work and memory are O(N * k) whatever the cluster size; below k neighbours
    per item (every library without near-identical clusters) that is every pair within the radius.

    Returns:
        (sorted unique int64 keys ``_encode(i, j, n)``, n defaulting to N, number of distinct hashes
        whose search was capped).
    """
    n = len(codes) if n is None else n
    uniq, inverse = np.unique(codes, return_inverse=True)
    members = np.argsort(inverse, kind="stable").astype(np.int64)
    starts = np.zeros(len(uniq) + 1, np.int64)
    np.cumsum(np.bincount(inverse, minlength=len(uniq)), out=starts[1:])
    neighbours, _, capped = nearest_within(uniq, radius, k, SEARCH_BUDGET)
    keys = np.concatenate([same_code_pairs(inverse, k, n), _cross_pairs(neighbours, starts, members, k, n)])
    return np.unique(keys), int(capped.sum())


def _components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected component label (int (n,)) of each of n nodes joined by edges (a, b)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def detect(session, settings: dict[str, Any], keep_choices: dict[str, str] | None = None,
           bursts: dict[str, int] | None = None) -> tuple[list[Group], dict]:
    """Compute duplicate groups over the whole catalog (see the module docstring). ``bursts``:
    asset id -> burst id of the current burst generation (frames of one burst are never duplicates).

    Memory is O(assets * ``duplicate_max_group``): candidates are capped per asset
    (``candidate_pairs``), verified in chunks of ``VERIFY_CHUNK`` pairs with array code, and only
    the same-image edges are kept (as arrays). A connected cluster of same-image edges larger than
    ``duplicate_max_group`` is not split into arbitrary duplicate groups: it is reported as one
    ``similar_set`` that says why.

    Returns:
        (groups, stats) where stats holds counts and timings in seconds.
    Raises:
        ConfigError: on an invalid radius or group size.
    """
    import time

    radius = int(settings["duplicate_radius_bits"])
    if not 0 <= radius <= 32:
        raise ConfigError(f"duplicate_radius_bits must be 0..32, got {radius}")
    max_group = int(settings["duplicate_max_group"])
    if max_group < 2:
        raise ConfigError(f"duplicate_max_group must be at least 2, got {max_group}")
    max_gap = float(settings["burst_max_gap_s"])
    k = max_group  # no asset needs more partners than the largest group it can join has members
    t0 = time.perf_counter()
    items = load_items(session)
    for aid, burst in (bursts or {}).items():
        if aid in items:
            items[aid].burst = burst
    feedback = {(f.asset_a, f.asset_b) for f in session.scalars(select(DuplicateFeedback))}
    # one index space: hashed items (hash candidates), then degenerate ones, then Live Photo halves without hashes
    hashed = [it for it in items.values() if it.hashes and not it.degenerate and it.has_signature]
    flat = [it for it in items.values() if it.hashes and it.degenerate and it.has_signature]
    seen = {it.asset_id for it in hashed + flat}
    live_only = [it for it in items.values() if it.asset_id not in seen and (it.content_id or it.media_kind == "video")]
    nodes = hashed + flat + live_only
    n = len(nodes)
    stats: dict[str, Any] = {"assets": len(items), "hashed": len(hashed), "degenerate": len(flat),
                             "not_checked": len(items) - len(hashed) - len(flat)}
    t1 = time.perf_counter()
    keys, capped = [], 0
    for kind in CANDIDATE_HASHES:
        found, capped_kind = candidate_pairs(np.array([it.hashes[kind] for it in hashed], dtype=np.uint64), radius, k, n)
        keys.append(found)
        capped += capped_kind
    # degenerate (flat, banded) images: only pixel-identical ones may be grouped, never on hash distance
    flat_codes = np.array([hash(tuple(it.hashes[h] for h in ("ahash", "dhash", "phash", "whash"))) for it in flat],
                          dtype=np.int64)
    flat_keys = same_code_pairs(flat_codes, k, n) + len(hashed) * n + len(hashed)  # shifted to flat's indexes
    keys.append(flat_keys)
    keys.append(_live_candidates(nodes, n))
    keys = np.unique(np.concatenate(keys))
    index = {it.asset_id: x for x, it in enumerate(nodes)}
    if feedback:
        refused = np.array([_encode(np.array([index[a]]), np.array([index[b]]), n)[0] for a, b in feedback
                            if a in index and b in index], dtype=np.int64)
        stats["user_not_duplicate"] = int(np.isin(keys, refused).sum())
        keys = keys[~np.isin(keys, refused)]
    t2 = time.perf_counter()
    edges_a, edges_b, edge_cls, edge_px, classes = _verify_all(nodes, keys, n, len(hashed), settings, session)
    t3 = time.perf_counter()
    groups: list[Group] = []
    grouped: set[str] = set()
    # clusters of near-identical images: same-image and derivative edges (a timelapse drifts from
    # copies to edits and back); a cluster bigger than a group is one similar-set, nothing inside it is listed
    related = edge_cls != CLASSES.index("live_photo")
    label = _components(n, edges_a[related], edges_b[related])
    in_edges = np.zeros(n, bool)
    in_edges[edges_a[related]], in_edges[edges_b[related]] = True, True
    big = np.bincount(label[in_edges], minlength=n) > max_group
    stats["similar_sets"] = int(big.sum())
    for comp in np.flatnonzero(big):
        members = [nodes[x] for x in np.flatnonzero((label == comp) & in_edges)]
        keeper, why = keeper_order(members, {})
        reason = (f"cluster of {len(members):,} near-identical images: kept as one similar-set, not a duplicate group "
                  f"(more than duplicate_max_group = {max_group})")
        groups.append(Group("similar_set", reason, keeper.asset_id, None, why,
                            [{"asset_id": m.asset_id, "paths": m.paths, "path": None,
                              "class": "keeper" if m is keeper else "similar", "distances": {}} for m in members]))
    small = ~big[label[edges_a]]
    same = small & (edge_cls == CLASSES.index("same_image"))
    evidence: dict[tuple[str, str], dict] = {}
    edges: list[tuple[float, str, str]] = []
    for x, y, row in zip(edges_a[same].tolist(), edges_b[same].tolist(), edge_px[same]):
        a, b = nodes[x], nodes[y]
        px = pixel_doc(row)
        _, ev = verify(a, b, settings, px)  # the evidence; the class is the one _verify_all gave
        evidence[(a.asset_id, b.asset_id)] = {**ev, "class": "same_image", **({"degenerate": True} if x >= len(hashed) else {})}
        edges.append((min(px["mad"], px["crop_mad"] or 99), a.asset_id, b.asset_id))
    for cluster in complete_linkage(edges, max_group):
        members = [items[a] for a in sorted(cluster)]
        keeper, why = keeper_order(members, evidence)
        if keep_choices and any(m.asset_id in keep_choices for m in members):
            keeper = next(m for m in members if m.asset_id in keep_choices)
            why = "user: chosen when the group was resolved"
        docs = []
        for m in members:
            ev = evidence.get((keeper.asset_id, m.asset_id)) or evidence.get((m.asset_id, keeper.asset_id)) or {}
            docs.append({"asset_id": m.asset_id, "paths": m.paths, "path": None,
                         "class": "keeper" if m is keeper else "same_image", "distances": ev})
        cls_reason = "same picture: " + ", ".join(sorted({_reason(d["distances"]) for d in docs if d["distances"]}))
        groups.append(Group("same_image", cls_reason, keeper.asset_id, None, why, docs))
        grouped.update(cluster)
    live = edge_cls == CLASSES.index("live_photo")
    for x, y, row in zip(edges_a[live].tolist(), edges_b[live].tolist(), edge_px[live]):  # reported, never resolved
        _, ev = verify(nodes[x], nodes[y], settings, None if np.isnan(row[0]) else pixel_doc(row))
        still, video = (nodes[x], nodes[y]) if nodes[y].media_kind == "video" else (nodes[y], nodes[x])
        groups.append(Group("live_photo", f"Live Photo: still and its motion video ({ev['live_photo']})",
                            still.asset_id, None, "the still image",
                            [{"asset_id": still.asset_id, "paths": still.paths, "path": None, "class": "keeper",
                              "distances": {}},
                             {"asset_id": video.asset_id, "paths": video.paths, "path": None, "class": "live_photo",
                              "distances": ev}]))
    # derivatives (edits, strong crops): one set per cluster, not one entry per pair (a cluster of 50
    # near-copies has 1,225 pairs), with each member's distances to the set's keeper when compared
    derived = small & (edge_cls == CLASSES.index("derivative"))
    sets: dict[int, dict[str, Any]] = {}
    for x, y, row in zip(edges_a[derived].tolist(), edges_b[derived].tolist(), edge_px[derived]):
        entry = sets.setdefault(int(label[x]), {"members": {}, "pairs": {}})
        entry["members"][x], entry["members"][y] = nodes[x], nodes[y]
        entry["pairs"][(x, y)] = row
    for entry in sets.values():
        members = sorted(entry["members"].values(), key=lambda m: m.paths[0])
        keeper, why = keeper_order(members, {})
        k = next(x for x, m in entry["members"].items() if m is keeper)
        docs = []
        for x, m in sorted(entry["members"].items(), key=lambda xm: xm[1].paths[0]):
            row = entry["pairs"].get((min(x, k), max(x, k)))
            ev = verify(keeper, m, settings, pixel_doc(row))[1] if row is not None and m is not keeper else {}
            docs.append({"asset_id": m.asset_id, "paths": m.paths, "path": None,
                         "class": "keeper" if m is keeper else "derivative", "distances": ev})
        groups.append(Group("derivative", f"edited or strongly cropped versions of one picture "
                                          f"({len(entry['pairs']):,} derivative pairs)", keeper.asset_id, None, why, docs))
    for it in items.values():  # exact copies not already in a same-image group
        if len(it.paths) > 1 and it.asset_id not in grouped:
            keep_path = sorted(it.paths, key=lambda p: (p.count("/"), len(p), p))[0]
            docs = [{"asset_id": it.asset_id, "paths": [p], "path": p, "class": "keeper" if p == keep_path else "exact",
                     "distances": {"sha256": 0}} for p in it.paths]
            groups.append(Group("exact", "identical bytes (same SHA-256)", it.asset_id, keep_path,
                                "path: the shortest, shallowest path of identical files", docs))
    stats.update(candidates=len(keys), capped_hashes=capped, verdicts=classes,
                 groups=sum(g.group_class in ("exact", "same_image") for g in groups),
                 time_load_s=round(t1 - t0, 3), time_search_s=round(t2 - t1, 3),
                 time_verify_s=round(t3 - t2, 3), time_group_s=round(time.perf_counter() - t3, 3),
                 radius_bits=radius, rule_version=RULE_VERSION)
    return groups, stats


def _live_candidates(nodes: list[Item], n: int) -> np.ndarray:
    """Keys (``_encode``) of still/video pairs sharing a content identifier or folder and name stem,
    whatever their hashes (a cloud export's motion video has no camera tags and no dates)."""
    keys = []
    for attr in ("content_id", "live_key"):
        by: dict[Any, list[int]] = {}
        for x, it in enumerate(nodes):
            value = getattr(it, attr)
            if value:
                by.setdefault(value, []).append(x)
        for xs in by.values():
            if 1 < len(xs) <= 8:  # a Live Photo is a handful of files; more is a name clash, not a pair
                keys += [min(x, y) * n + max(x, y) for x in xs for y in xs
                         if x < y and (nodes[x].media_kind == "video") != (nodes[y].media_kind == "video")]
    return np.array(keys, dtype=np.int64)


def _verify_all(nodes: list[Item], keys: np.ndarray, n: int, n_hashed: int, settings: dict[str, Any], session
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    """Verify every candidate pair (keys over ``nodes``), ``VERIFY_CHUNK`` pairs at a time, with
    ``pair_class`` on arrays. Pairs of degenerate nodes (index >= n_hashed, not Live Photo halves)
    are the same image only when pixel-identical (MAD <= ``PIXEL_IDENTICAL_MAD``, same aspect).

    Returns:
        (edge a, edge b: int64 node indexes of the same-image, derivative and live-photo pairs; their
        class (int8, index into ``CLASSES``); their ``signature_distances`` float64 (E, len(PIXEL_KEYS)),
        NaN when not compared; counts of every class).
    """
    max_gap = float(settings["burst_max_gap_s"])
    max_group = int(settings["duplicate_max_group"])
    cameras: dict[tuple, int] = {}
    cam = np.array([cameras.setdefault(it.camera, len(cameras)) if it.camera and it.time_trusted else -1 - x
                    for x, it in enumerate(nodes)], dtype=np.int64)  # -1 - x: never equal to another's
    utc = np.array([it.utc_s for it in nodes])
    local = np.array([it.local_s for it in nodes])
    burst = np.array([it.burst if it.burst is not None else -1 - x for x, it in enumerate(nodes)], dtype=np.int64)
    video = np.array([it.media_kind == "video" for it in nodes])
    has_sig = np.array([it.has_signature for it in nodes])
    flat = np.arange(n) >= n_hashed
    aspect = np.array([math.log(it.width / it.height) if it.width and it.height else np.nan for it in nodes])
    slot = np.full(n, -1, np.int64)
    # which nodes need their signature: those in a pair whose class depends on pixels
    for start in range(0, len(keys), VERIFY_CHUNK):
        a, b = np.divmod(keys[start:start + VERIFY_CHUNK], n)
        gap = gap_s(cam[a] == cam[b], utc[a], utc[b], local[a], local[b])
        need = needs_pixels(gap, (burst[a] == burst[b]) & (gap != 0)) & has_sig[a] & has_sig[b]
        slot[a[need]], slot[b[need]] = 0, 0
    wanted = np.flatnonzero(slot == 0)
    slot[wanted] = np.arange(len(wanted))
    sigs = load_signature_array(session, [nodes[x].asset_id for x in wanted])
    smalls = _small(sigs)
    # nodes surely in a similar-set: clusters of the pairs related whatever their crop search finds
    # (same image uncropped, or within DERIVATIVE_MAD). Pairs of two such nodes skip the crop search,
    # which is most of the work in a cluster of thousands and changes nothing there.
    # the shot (camera and trusted capture time) of each node; an uncropped copy without them
    # (metadata stripped) takes its original's, so that a crop of the shot groups with it too
    shots: dict[tuple, int] = {}
    shot = np.array([shots.setdefault((int(cam[x]), float(local[x])), len(shots)) if cam[x] >= 0 else -1
                     for x in range(n)], dtype=np.int64)
    inherited = shot.copy()
    sure_a, sure_b = [], []
    for start in range(0, len(keys), VERIFY_CHUNK):
        a, b = np.divmod(keys[start:start + VERIFY_CHUNK], n)
        hashed = (slot[a] >= 0) & (slot[b] >= 0) & ~flat[a] & ~flat[b] & (video[a] == video[b])
        px = signature_distances(sigs, np.stack([slot[a[hashed]], slot[b[hashed]]], axis=1), smalls=smalls)
        gap = gap_s(cam[a] == cam[b], utc[a], utc[b], local[a], local[b])[hashed]
        burst_pair = ((burst[a] == burst[b])[hashed]) & (gap != 0)
        copy = (px[:, 0] <= COPY_MAD) & (px[:, 3] <= LOCAL_MAD)
        surely = (needs_pixels(gap, burst_pair) & (px[:, 0] <= DERIVATIVE_MAD * px[:, 5])
                  & ~((px[:, 0] <= COPY_MAD) & ~copy))
        sure_a.append(a[hashed][surely])
        sure_b.append(b[hashed][surely])
        for x, y in ((a[hashed][copy], b[hashed][copy]), (b[hashed][copy], a[hashed][copy])):
            takes = (shot[x] < 0) & (shot[y] >= 0)  # x without a shot, an uncropped copy of y with one
            for xx, sy in zip(x[takes].tolist(), shot[y[takes]].tolist()):
                inherited[xx] = sy if inherited[xx] in (-1, sy) else -2  # -2: copies of two shots, none
    sure_a = np.concatenate(sure_a) if sure_a else np.zeros(0, np.int64)
    sure_b = np.concatenate(sure_b) if sure_b else np.zeros(0, np.int64)
    label = _components(n, sure_a, sure_b)
    in_sure = np.zeros(n, bool)
    in_sure[sure_a], in_sure[sure_b] = True, True
    in_big = in_sure & (np.bincount(label[in_sure], minlength=n) > max_group)[label]
    del sure_a, sure_b, label
    edges_a, edges_b, edge_cls, edge_px = [], [], [], []
    classes: dict[str, int] = {}
    for start in range(0, len(keys), VERIFY_CHUNK):
        a, b = np.divmod(keys[start:start + VERIFY_CHUNK], n)
        gap = gap_s(cam[a] == cam[b], utc[a], utc[b], local[a], local[b])
        gap[np.isnan(gap) & (inherited[a] >= 0) & (inherited[a] == inherited[b])] = 0.0  # the same shot, by a copy
        burst_pair = (burst[a] == burst[b]) & (gap != 0)
        need = needs_pixels(gap, burst_pair) & (slot[a] >= 0) & (slot[b] >= 0)
        px = np.full((len(a), len(PIXEL_KEYS)), np.nan)
        limits = np.where(gap[need] == 0, SAME_SHOT_CROP_MAD, CROP_MAD)
        hashed_pair = ~flat[a[need]] | video[a[need]] | video[b[need]]
        skip = in_big[a[need]] & in_big[b[need]]
        classes["crop_search_skipped"] = classes.get("crop_search_skipped", 0) + int(skip.sum())
        limits[skip] = 0.0
        px[need] = signature_distances(sigs, np.stack([slot[a[need]], slot[b[need]]], axis=1),
                                       np.where(hashed_pair, limits, 0.0), smalls=smalls)
        mad = px[:, 0]
        live = np.zeros(len(a), np.int8)
        for x in np.flatnonzero(video[a] != video[b]):
            live[x] = live_pair_kind(nodes[a[x]], nodes[b[x]])
        cls = pair_class(gap, burst_pair, video[a] != video[b], live, *px.T, max_gap)
        degenerate = flat[a] & flat[b] & ~video[a] & ~video[b]
        identical = (mad <= PIXEL_IDENTICAL_MAD) & ~(np.abs(aspect[a] - aspect[b]) > 0.01)
        cls[degenerate] = np.where(identical[degenerate], CLASSES.index("same_image"), CLASSES.index("similar"))
        for c, count in zip(*np.unique(cls, return_counts=True)):
            classes[CLASSES[c]] = classes.get(CLASSES[c], 0) + int(count)
        kept = np.isin(cls, KEPT_CLASSES)
        edges_a.append(a[kept])
        edges_b.append(b[kept])
        edge_cls.append(cls[kept])
        edge_px.append(px[kept])
    if not edges_a:
        return (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int8), np.zeros((0, len(PIXEL_KEYS))),
                classes)
    return (np.concatenate(edges_a), np.concatenate(edges_b), np.concatenate(edge_cls), np.concatenate(edge_px),
            classes)


def load_signature_array(session, asset_ids: list[str]) -> np.ndarray:
    """The 64x64 grey signatures of ``asset_ids``, in that order: uint8 (len, 64, 64), one array
    (4 KiB per asset, no per-asset objects)."""
    out = np.zeros((len(asset_ids), SIGNATURE_PX, SIGNATURE_PX), np.uint8)
    where = {aid: x for x, aid in enumerate(asset_ids)}
    ids = sorted(where)
    for start in range(0, len(ids), 500):
        for aid, sig in session.connection().execute(select(PerceptualHash.asset_id, PerceptualHash.signature)
                                                     .where(PerceptualHash.asset_id.in_(ids[start:start + 500]))):
            if sig:
                out[where[aid]] = np.frombuffer(sig, dtype=np.uint8).reshape(SIGNATURE_PX, SIGNATURE_PX)
    return out


def _reason(ev: dict) -> str:
    if ev.get("crop_scale") and ev.get("crop_mad") is not None and ev["crop_mad"] < ev.get("mad", 0):
        return f"cropped to {ev['crop_scale']:.0%}"
    if ev.get("mad", 1) == 0:
        return "identical pixels"
    return "re-encoded or resized"


def complete_linkage(edges: list[tuple[float, str, str]], max_group: int) -> list[set[str]]:
    """Clusters in which every pair is an edge, built from the strongest edges first, at most
    ``max_group`` members each. A chain a-b-c without a-c never becomes one group."""
    adjacency: dict[str, set[str]] = {}
    for _, a, b in edges:
        adjacency.setdefault(a, set()).add(b)
        adjacency.setdefault(b, set()).add(a)
    cluster_of: dict[str, set[str]] = {}
    for _, a, b in sorted(edges):
        ca = cluster_of.get(a, {a})
        cb = cluster_of.get(b, {b})
        if ca is cb or len(ca) + len(cb) > max_group:
            continue
        if all(y in adjacency[x] for x in ca for y in cb):
            merged = ca | cb
            for x in merged:
                cluster_of[x] = merged
    seen: list[set[str]] = []
    for c in cluster_of.values():
        if not any(c is s for s in seen):
            seen.append(c)
    return [c for c in seen if len(c) > 1]
