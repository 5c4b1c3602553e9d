"""Duplicate detection: exact copies and same-image copies, told apart from look-alikes.

Classes: ``exact`` (same SHA-256: one asset, several files), ``same_image`` (re-encoded, resized,
slightly cropped, converted, rotated with a compensating EXIF orientation, metadata stripped) and
``derivative`` (visible edit or substantial crop: reported, never auto-resolved). ``burst_sibling``
and ``similar`` pairs are never grouped.

Pipeline (rule version ``RULE_VERSION``):

1. Candidates: every pair within ``duplicate_radius_bits`` on pHash or on aHash
   (``lumina.analysis.hamming``: compiled pigeonhole search, no all-pairs loop). Degenerate hashes
   (flat images) are skipped; "not duplicates" feedback removes pairs.
2. Verification of each candidate pair on several signals, all kept as evidence:
   per-hash Hamming distances; aspect ratio; the 64x64 grey signatures compared as 32x32 mean
   absolute difference (MAD, grey levels) as they are and after the best crop of either side
   (scales 0.96-0.72, 1 px steps: ``crop_windows``, searched by compiled code that computes
   Pillow's exact windows, for all pairs at once, and stops at the crops that can no longer change
   the verdict); capture time and camera: two frames of one camera with trusted
   capture times apart by more than 0 and at most ``burst_max_gap_s``, or two frames of one
   detected burst (``lumina.analysis.bursts``; a BurstUUID burst too), are ``burst_sibling``,
   further apart ``similar`` (different shots), however alike.
   Thresholds (calibrated on ../shared/eval/dev, see tests/analysis/test_duplicates.py):
   uncropped copies MAD <= 3.5 (dev max 2.1); crops to scale >= 0.84 (<= 8 % a side) with MAD <= 10
   (dev max 9.5), or <= 16 when camera and trusted capture time are identical (the same shot), and
   3 levels better than uncropped; a smaller scale or an uncropped MAD up to 22 is a ``derivative``;
   anything else ``similar``.
3. Grouping that cannot chain: edges are merged in order of increasing MAD into clusters only when
   every cross pair is itself a verified edge (complete linkage), up to ``duplicate_max_group``.
4. Keeper by a documented ranking (see ``keeper_order``).

Results are written as a new generation and swapped in atomically (``lumina.analysis.generations``).
"""

from __future__ import annotations

import math
from itertools import combinations
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numba
import numpy as np
from PIL import Image
from sqlalchemy import func, select

from lumina.analysis.hamming import pairs_within
from lumina.catalog.models import (Asset, CaptureDate, DuplicateFeedback, FileInstance, Metadata, PerceptualHash,
                                   Quality)
from lumina.errors import ConfigError
from lumina.stages.hashes import SIGNATURE_PX, hamming_distance, to_unsigned

RULE_VERSION = 2  # 2: frames of one detected burst are burst siblings
SETTING_NAMES = ("duplicate_radius_bits", "duplicate_max_group", "burst_max_gap_s")
COPY_MAD = 3.5  # grey levels: uncropped copies (dev max 2.1)
CROP_MAD = 10.0  # grey levels: best-crop copies (dev max 9.5)
PIXEL_IDENTICAL_MAD = 1.0  # grey levels: the same pixels up to rounding (a 16-bit PNG and its 8-bit twin)
SAME_SHOT_CROP_MAD = 16.0  # when camera and trusted capture time are identical (same shot), dev max 14.3
CROP_MIN_SCALE = 0.84  # 8 % off each side
DERIVATIVE_MAD = 22.0
CROP_SCALES = (0.96, 0.92, 0.88, 0.84, 0.80, 0.76, 0.72)
TRUSTED_SOURCES = ("EXIF:DateTimeOriginal", "QuickTime:CreationDate", "XMP:DateTimeOriginal", "EXIF:CreateDate",
                   "sidecar XMP:DateTimeOriginal", "user")
LOSSLESS = {"png", "tiff", "bmp", "psd"}
CAMERA_FORMATS = {"raw", "jpeg", "heic", "heif", "tiff"}  # what cameras and phones write; WebP/PNG/GIF are conversions


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
    capture_instant: datetime | None = None
    time_trusted: bool = False
    quality: float | None = None
    richness: int = 0
    burst: int | None = None  # burst id in the current burst generation

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


def crop_windows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every square window of a 64x64 signature at ``CROP_SCALES`` (1 px steps), each resized to
    32x32 with Pillow: (windows uint8 (K, 32, 32), their scales (K,)). The definition of the crop
    search; ``compare_pixels`` computes the same windows with ``CROP_TAPS``, far faster."""
    img = Image.fromarray(a)
    wins, scales = [], []
    for scale in CROP_SCALES:
        w = int(round(SIGNATURE_PX * scale))
        for x0 in range(0, SIGNATURE_PX - w + 1):
            for y0 in range(0, SIGNATURE_PX - w + 1):
                wins.append(np.asarray(img.resize((32, 32), Image.Resampling.BOX, box=(x0, y0, x0 + w, y0 + w))))
                scales.append(scale)
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


@numba.njit(cache=True)
def _best_crop(src, ref, limit, first, last, positions, pairs, rows, done):
    """Lowest sum of absolute differences (below ``limit``) between ref (32x32) and a crop window
    of src (64x64), windows in ``crop_windows`` order, the first of equal sums winning:
    (sum, scale index), or (limit, -1) when none is below. A window is left as soon as its
    partial sum reaches the best so far. pairs (64, 128), rows (64, 32), done (64,): scratch."""
    for y in range(SIGNATURE_PX):  # pairs[y, 2x] = src[y, x], pairs[y, 2x + 1] = rounded mean of x and x + 1
        for x in range(SIGNATURE_PX - 1):
            pairs[y, 2 * x] = src[y, x]
            pairs[y, 2 * x + 1] = (np.int32(src[y, x]) + src[y, x + 1] + 1) >> 1
        pairs[y, 2 * SIGNATURE_PX - 2] = pairs[y, 2 * SIGNATURE_PX - 1] = src[y, SIGNATURE_PX - 1]
    best, best_scale = limit, -1
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
                    best, best_scale = total, s
    return best, best_scale


@numba.njit(parallel=True, cache=True)
def _crop_search(sigs, smalls, pa, pb, limits, first, last, positions, out_sum, out_scale):
    """``_best_crop`` for the pairs (pa[p], pb[p]): windows of a against b's 32x32, then windows
    of b against a's, b winning only when strictly better (the order of ``crop_windows``)."""
    for p in numba.prange(len(pa)):
        pairs, rows = np.empty((SIGNATURE_PX, 2 * SIGNATURE_PX), np.uint8), np.empty((SIGNATURE_PX, 32), np.uint8)
        done = np.empty(SIGNATURE_PX, np.bool_)
        best, scale = _best_crop(sigs[pa[p]], smalls[pb[p]], limits[p], first, last, positions, pairs, rows, done)
        best_b, scale_b = _best_crop(sigs[pb[p]], smalls[pa[p]], best, first, last, positions, pairs, rows, done)
        out_sum[p], out_scale[p] = (best_b, scale_b) if scale_b >= 0 else (best, scale)


def compare_signatures(sigs: np.ndarray, pairs: np.ndarray, crop_limits_mad: np.ndarray | None = None,
                       batch: int = 4096) -> list[dict[str, float | None]]:
    """``compare_pixels`` for many pairs at once, in parallel.

    Args:
        sigs: uint8 (M, 64, 64) signatures.
        pairs: int (P, 2) indexes into sigs.
        crop_limits_mad: float (P,) grey levels, or None for no crop search: per pair, the largest
            crop MAD that can change the pair's verdict (see ``compare_pixels``).
    Returns:
        P dicts ``{"mad", "crop_mad", "crop_scale"}`` as ``compare_pixels`` gives them.
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if not len(pairs):
        return []
    smalls = _small(sigs)
    sums = np.concatenate([np.abs(smalls[pairs[k:k + batch, 0]].astype(np.int16) - smalls[pairs[k:k + batch, 1]])
                           .sum(axis=(1, 2)) for k in range(0, len(pairs), batch)])
    mads = np.round(sums / 1024, 3)  # exact: sums of integers, as numpy's float32 mean of the 32x32 differences
    out = [{"mad": float(m), "crop_mad": None, "crop_scale": None} for m in mads]
    if crop_limits_mad is None:
        return out
    todo = np.flatnonzero(mads > COPY_MAD)
    # + 2: crops whose MAD rounds (to 0.001) to the limit are searched too
    limits = (np.minimum(np.asarray(crop_limits_mad, dtype=np.float64)[todo], mads[todo] - 3) * 1024).astype(np.int64) + 2
    best, scale = np.zeros(len(todo), np.int64), np.zeros(len(todo), np.int64)
    _crop_search(sigs, smalls, pairs[todo, 0], pairs[todo, 1], limits, *CROP_TAPS, best, scale)
    for k, b, s in zip(todo.tolist(), best.tolist(), scale.tolist()):
        if s >= 0:
            out[k].update(crop_mad=round(b / 1024, 3), crop_scale=CROP_SCALES[s])
    return out


def compare_pixels(a: np.ndarray, b: np.ndarray, crop_search: bool = True,
                   crop_limit_mad: float = float("inf")) -> dict[str, float | None]:
    """Signature comparison of two 64x64 uint8 signatures, both shrunk to 32x32 (Pillow BOX).

    Returns:
        ``mad``: mean absolute difference uncropped, grey levels 0-255 (rounded to 0.001);
        ``crop_mad``, ``crop_scale``: when ``mad`` > ``COPY_MAD``, the best square crop of either
        side (``crop_windows``) against the other, as MAD and scale 0-1, among the crops with
        a MAD of at most ``crop_limit_mad`` and ``mad`` - 3 (the only ones ``verify`` can use:
        a worse crop changes no verdict); None when there is none.
    """
    limits = None if not crop_search else np.array([min(crop_limit_mad, 255.0)])
    return compare_signatures(np.stack([a, b]), np.array([[0, 1]]), limits)[0]


def capture_gap_s(a: Item, b: Item) -> float | None:
    """Seconds between two photos of one camera with trusted capture times, else None."""
    if a.time_trusted and b.time_trusted and a.camera and a.camera == b.camera:
        return abs((a.capture_instant - b.capture_instant).total_seconds())
    return None


def crop_limit_mad(gap_s: float | None) -> float:
    """Largest best-crop MAD of a same-image copy: more for the same shot (identical camera and
    trusted capture time)."""
    return SAME_SHOT_CROP_MAD if gap_s == 0 else CROP_MAD


def same_burst(a: Item, b: Item, gap_s: float | None) -> bool:
    """Two frames of one detected burst (not one shot stored twice: same trusted capture time)."""
    return a.burst is not None and a.burst == b.burst and gap_s != 0


def verify(a: Item, b: Item, settings: dict[str, Any], pixels: dict | None = None) -> tuple[str, dict[str, Any]]:
    """Class of a candidate pair (``same_image``, ``derivative``, ``burst_sibling``, ``similar``)
    and its evidence (every distance computed). ``pixels``: the pair's ``compare_pixels`` result
    when already computed (with ``crop_limit_mad(capture_gap_s(a, b))``)."""
    ev: dict[str, Any] = {k: hamming_distance(a.hashes[k], b.hashes[k]) for k in ("ahash", "dhash", "phash", "whash")}
    if a.width and a.height and b.width and b.height:
        ev["aspect_log_ratio"] = round(abs(math.log((a.width / a.height) / (b.width / b.height))), 4)
    gap = capture_gap_s(a, b)
    if gap is not None:
        ev["capture_gap_s"] = round(gap, 3)
    if same_burst(a, b, gap):
        ev["burst"] = a.burst
        return "burst_sibling", ev
    if gap is not None:
        if 0 < gap <= float(settings["burst_max_gap_s"]):
            return "burst_sibling", ev
        if gap > float(settings["burst_max_gap_s"]):
            return "similar", ev
    ev.update(pixels or compare_pixels(a.signature, b.signature, crop_limit_mad=crop_limit_mad(gap)))
    if ev["mad"] <= COPY_MAD:
        return "same_image", ev
    crop_limit = crop_limit_mad(gap)
    if ev["crop_mad"] is not None and ev["crop_mad"] <= crop_limit and ev["crop_mad"] < ev["mad"] - 3:
        return ("same_image" if ev["crop_scale"] >= CROP_MIN_SCALE else "derivative"), ev
    if ev["mad"] <= DERIVATIVE_MAD or (ev["crop_mad"] or 99) <= CROP_MAD:
        return "derivative", ev
    return "similar", ev


def load_items(session) -> dict[str, Item]:
    """Items for every asset with a present file, read with Core queries (no ORM objects).
    Signatures (4 KiB each) are not read here: ``has_signature`` says whether there is one, and
    ``load_signatures`` reads those that a comparison needs."""
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
            it.time_trusted = source in TRUSTED_SOURCES and "suspicious" not in (flags or [])
            it.richness += it.time_trusted
            stamp = capture_time_utc.rstrip("Z") if capture_time_utc else capture_time
            it.capture_instant = datetime.fromisoformat(stamp[:26])
    for aid, score in conn.execute(select(Quality.asset_id, Quality.score)).all():
        if aid in items:
            items[aid].quality = score
    return items


def load_signatures(session, items: list[Item]) -> None:
    """Fill in ``Item.signature`` (uint8 (64, 64)) for the given items that lack it."""
    todo = {it.asset_id: it for it in items if it.signature is None}
    ids = sorted(todo)
    for k in range(0, len(ids), 500):
        for aid, sig in session.connection().execute(select(PerceptualHash.asset_id, PerceptualHash.signature)
                                                     .where(PerceptualHash.asset_id.in_(ids[k:k + 500]))):
            if sig:
                todo[aid].signature = np.frombuffer(sig, dtype=np.uint8).reshape(SIGNATURE_PX, SIGNATURE_PX)


def keeper_order(members: list[Item], evidence: dict[tuple[str, str], dict]) -> tuple[Item, str]:
    """The copy to keep and the rule that decided, with the values compared.

    Ranking, first difference wins: ``format`` (RAW over everything; for the same pixels a camera
    format (JPEG, HEIC, TIFF) over a conversion (WebP, PNG, GIF); a lossless file over a lossy one
    only when their pixels differ, since a lossless re-wrap of a JPEG adds nothing), ``pixels``
    (more), ``quality`` (pixel quality score, by more than 2 points), ``metadata`` (more of capture
    date, camera, lens, GPS, exposure), ``capture_time`` (earliest), ``bytes`` (fewer: padding a
    file with junk never makes it the keeper), then the path.
    """
    def pixel_same(a: Item, b: Item) -> bool:
        ev = evidence.get((a.asset_id, b.asset_id)) or evidence.get((b.asset_id, a.asset_id)) or {}
        return ev.get("mad", 99) <= 1.0  # the same pixels up to re-encoding (dev conversions: <= 0.42)

    def rules(a: Item, b: Item):
        raw_a, raw_b = a.file_type == "raw", b.file_type == "raw"
        if raw_a != raw_b:
            yield "format", raw_a, f"format: {a.file_type} (RAW) over {b.file_type}" if raw_a else ""
        camera_a, camera_b = a.file_type in CAMERA_FORMATS, b.file_type in CAMERA_FORMATS
        if camera_a != camera_b and pixel_same(a, b):
            yield "format", camera_a, f"format: camera format {a.file_type} over converted {b.file_type}"
        lossless_a, lossless_b = a.file_type in LOSSLESS, b.file_type in LOSSLESS
        if lossless_a != lossless_b and not pixel_same(a, b):
            yield "format", lossless_a, f"format: lossless {a.file_type} over lossy {b.file_type}"
        if a.pixels != b.pixels:
            yield "pixels", a.pixels > b.pixels, f"pixels: {a.width}x{a.height} vs {b.width}x{b.height}"
        if a.quality is not None and b.quality is not None and abs(a.quality - b.quality) > 2:
            yield "quality", a.quality > b.quality, f"quality: {a.quality:.1f} vs {b.quality:.1f}"
        if a.richness != b.richness:
            yield "metadata", a.richness > b.richness, f"metadata: {a.richness} vs {b.richness} fields"
        if a.capture_instant and b.capture_instant and a.capture_instant != b.capture_instant:
            yield "capture_time", a.capture_instant < b.capture_instant, f"capture_time: {a.capture_time} vs {b.capture_time}"
        if a.size_bytes != b.size_bytes:
            yield "bytes", a.size_bytes < b.size_bytes, f"bytes: {a.size_bytes} vs {b.size_bytes} (fewer wins)"
        yield "path", a.paths[0] < b.paths[0], f"path: {a.paths[0]} vs {b.paths[0]}"

    best = members[0]
    for other in members[1:]:
        _, a_wins, _ = next(rules(other, best))
        if a_wins:
            best = other
    deciding = []
    for other in members:
        if other is not best:
            rule, _, text = next(rules(best, other))
            deciding.append(text.replace("vs", "over", 1) if "over" not in text else text)
    return best, "; ".join(dict.fromkeys(deciding)) or "only member"


@dataclass
class Group:
    group_class: str
    reason: str
    keeper: str
    keeper_path: str | None
    keeper_reason: str
    members: list[dict[str, Any]]


def detect(session, settings: dict[str, Any], keep_choices: dict[str, str] | None = None,
           bursts: dict[str, int] | None = None) -> tuple[list[Group], dict]:
    """Compute duplicate groups over the whole catalog (see the module docstring). ``bursts``:
    asset id -> burst id of the current burst generation (frames of one burst are never duplicates).

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
    t0 = time.perf_counter()
    items = load_items(session)
    for aid, burst in (bursts or {}).items():
        if aid in items:
            items[aid].burst = burst
    feedback = {(f.asset_a, f.asset_b) for f in session.scalars(select(DuplicateFeedback))}
    hashed = [it for it in items.values() if it.hashes and not it.degenerate and it.has_signature]
    stats: dict[str, Any] = {"assets": len(items), "hashed": len(hashed),
                             "degenerate": sum(1 for it in items.values() if it.degenerate),
                             "not_checked": len(items) - len(hashed)}
    t1 = time.perf_counter()
    candidates: set[tuple[int, int]] = set()
    for kind in ("phash", "ahash"):
        codes = np.array([it.hashes[kind] for it in hashed], dtype=np.uint64)
        i, j, _ = pairs_within(codes, radius)
        candidates.update(zip(i.tolist(), j.tolist()))
    # degenerate (flat, banded) images: only pixel-identical ones may be grouped, never on hash distance
    flat = [it for it in items.values() if it.degenerate and it.has_signature]
    buckets: dict[tuple, list[Item]] = {}
    for it in flat:
        buckets.setdefault(tuple(it.hashes[k] for k in ("ahash", "dhash", "phash", "whash")), []).append(it)
    flat_pairs = [(a, b) for bucket in buckets.values() for a, b in combinations(bucket, 2)]
    t2 = time.perf_counter()
    edges: list[tuple[float, str, str]] = []
    evidence: dict[tuple[str, str], dict] = {}
    classes: dict[str, int] = {}
    pairs: list[tuple[Item, Item]] = []
    for i, j in sorted(candidates):
        a, b = hashed[i], hashed[j]
        if tuple(sorted((a.asset_id, b.asset_id))) in feedback:
            classes["user_not_duplicate"] = classes.get("user_not_duplicate", 0) + 1
        else:
            pairs.append((a, b))
    # the pixel comparisons of every pair that reaches them in verify() (no burst or time verdict), at once
    gaps = [capture_gap_s(a, b) for a, b in pairs]
    compared = [k for k, gap in enumerate(gaps) if (gap is None or gap == 0) and not same_burst(*pairs[k], gap)]
    needed = [pairs[k][n] for k in compared for n in (0, 1)] + [it for pair in flat_pairs for it in pair]
    load_signatures(session, needed)
    slot = {it.asset_id: n for n, it in enumerate({it.asset_id: it for it in needed}.values())}
    sigs = np.stack([items[aid].signature for aid in slot]) if slot else np.zeros((0, 64, 64), np.uint8)
    pixels = dict(zip(compared, compare_signatures(
        sigs, [(slot[pairs[k][0].asset_id], slot[pairs[k][1].asset_id]) for k in compared],
        np.array([crop_limit_mad(gaps[k]) for k in compared]))))
    for k, (a, b) in enumerate(pairs):
        cls, ev = verify(a, b, settings, pixels.get(k))
        classes[cls] = classes.get(cls, 0) + 1
        evidence[(a.asset_id, b.asset_id)] = {**ev, "class": cls}
        if cls == "same_image":
            edges.append((min(ev["mad"], ev["crop_mad"] or 99), a.asset_id, b.asset_id))
    flat_pixels = compare_signatures(sigs, [(slot[a.asset_id], slot[b.asset_id]) for a, b in flat_pairs])
    for (a, b), px in zip(flat_pairs, flat_pixels):
        if tuple(sorted((a.asset_id, b.asset_id))) in feedback:
            continue
        ev = {**px, "degenerate": True}
        if a.width and b.width and a.height and b.height:
            ev["aspect_log_ratio"] = round(abs(math.log((a.width / a.height) / (b.width / b.height))), 4)
        same = ev["mad"] <= PIXEL_IDENTICAL_MAD and ev.get("aspect_log_ratio", 0) <= 0.01
        evidence[(a.asset_id, b.asset_id)] = {**ev, "class": "same_image" if same else "similar"}
        if same:
            edges.append((ev["mad"], a.asset_id, b.asset_id))
    t3 = time.perf_counter()
    clusters = complete_linkage(edges, max_group)
    groups: list[Group] = []
    grouped: set[str] = set()
    for cluster in clusters:
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
    for it in items.values():  # exact copies not already in a same-image group
        if len(it.paths) > 1 and it.asset_id not in grouped:
            keep_path = sorted(it.paths, key=lambda p: (p.count("/"), len(p), p))[0]
            docs = [{"asset_id": it.asset_id, "paths": [p], "path": p, "class": "keeper" if p == keep_path else "exact",
                     "distances": {"sha256": 0}} for p in it.paths]
            groups.append(Group("exact", "identical bytes (same SHA-256)", it.asset_id, keep_path,
                                "path: the shortest, shallowest path of identical files", docs))
    stats.update(candidates=len(candidates), flat_pairs=len(flat_pairs), verdicts=classes, groups=len(groups),
                 time_load_s=round(t1 - t0, 3), time_search_s=round(t2 - t1, 3),
                 time_verify_s=round(t3 - t2, 3), time_group_s=round(time.perf_counter() - t3, 3),
                 radius_bits=radius, rule_version=RULE_VERSION)
    return groups, stats


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
