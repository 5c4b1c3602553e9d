"""Duplicate detection: exact copies and same-image copies, told apart from look-alikes.

Classes: ``exact`` (same SHA-256: one asset, several files), ``same_image`` (re-encoded, resized,
slightly cropped, converted, rotated with a compensating EXIF orientation, metadata stripped) and
``derivative`` (visible edit or substantial crop: reported, never auto-resolved). ``burst_sibling``
and ``similar`` pairs are never grouped.

Pipeline (rule version ``RULE_VERSION``):

1. Candidates: every pair within ``duplicate_radius_bits`` on pHash or on aHash
   (``lumina.analysis.hamming``: multi-index hashing, no all-pairs loop). Degenerate hashes
   (flat images) are skipped; "not duplicates" feedback removes pairs.
2. Verification of each candidate pair on several signals, all kept as evidence:
   per-hash Hamming distances; aspect ratio; the 64x64 grey signatures compared as 32x32 mean
   absolute difference (MAD, grey levels) as they are and after the best crop of either side
   (scales 1.0-0.72, 2 px steps); capture time and camera: two frames of one camera with trusted
   capture times apart by more than 0 and at most ``burst_max_gap_s`` are ``burst_sibling``,
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

import numpy as np
from PIL import Image
from sqlalchemy import select

from lumina.analysis.hamming import pairs_within
from lumina.catalog.models import (Asset, CaptureDate, DuplicateFeedback, FileInstance, Metadata, PerceptualHash,
                                   Quality)
from lumina.errors import ConfigError
from lumina.stages.hashes import SIGNATURE_PX, hamming_distance, to_unsigned

RULE_VERSION = 1
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
    camera: tuple | None = None
    capture_time: str | None = None
    capture_instant: datetime | None = None
    time_trusted: bool = False
    quality: float | None = None
    richness: int = 0

    @property
    def pixels(self) -> int:
        return (self.width or 0) * (self.height or 0)


def _small(a: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(a).resize((32, 32), Image.Resampling.BOX), dtype=np.float32)


def crop_windows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every square window of a 64x64 signature at ``CROP_SCALES`` (1 px steps), each resized to
    32x32: (windows float32 (K, 32, 32), their scales (K,))."""
    img = Image.fromarray(a)
    wins, scales = [], []
    for scale in CROP_SCALES:
        w = int(round(SIGNATURE_PX * scale))
        for x0 in range(0, SIGNATURE_PX - w + 1):
            for y0 in range(0, SIGNATURE_PX - w + 1):
                wins.append(np.asarray(img.resize((32, 32), Image.Resampling.BOX, box=(x0, y0, x0 + w, y0 + w))))
                scales.append(scale)
    return np.stack(wins), np.array(scales)


def compare_pixels(a: np.ndarray, b: np.ndarray, crop_search: bool = True,
                   windows: Any = None) -> dict[str, float]:
    """Signature comparison: ``mad`` uncropped, and the best crop of either side (``crop_mad``,
    ``crop_scale``); grey levels 0-255 and scale 0-1. ``windows(sig)`` may supply cached
    ``crop_windows`` results."""
    windows = windows or crop_windows
    a32, b32 = _small(a), _small(b)
    out = {"mad": round(float(np.abs(a32 - b32).mean()), 3), "crop_mad": None, "crop_scale": None}
    if crop_search and out["mad"] > COPY_MAD:
        best = (float("inf"), 1.0)
        for src, ref in ((a, b32), (b, a32)):
            wins, scales = windows(src)
            mads = np.abs(wins.astype(np.float32) - ref).mean(axis=(1, 2))
            k = int(mads.argmin())
            if mads[k] < best[0]:
                best = (float(mads[k]), float(scales[k]))
        out.update(crop_mad=round(best[0], 3), crop_scale=best[1])
    return out


def verify(a: Item, b: Item, settings: dict[str, Any], windows: Any = None) -> tuple[str, dict[str, Any]]:
    """Class of a candidate pair (``same_image``, ``derivative``, ``burst_sibling``, ``similar``)
    and its evidence (every distance computed)."""
    ev: dict[str, Any] = {k: hamming_distance(a.hashes[k], b.hashes[k]) for k in ("ahash", "dhash", "phash", "whash")}
    if a.width and a.height and b.width and b.height:
        ev["aspect_log_ratio"] = round(abs(math.log((a.width / a.height) / (b.width / b.height))), 4)
    if a.time_trusted and b.time_trusted and a.camera and a.camera == b.camera:
        gap = abs((a.capture_instant - b.capture_instant).total_seconds())
        ev["capture_gap_s"] = round(gap, 3)
        if 0 < gap <= float(settings["burst_max_gap_s"]):
            return "burst_sibling", ev
        if gap > float(settings["burst_max_gap_s"]):
            return "similar", ev
    ev.update(compare_pixels(a.signature, b.signature, windows=windows))
    if ev["mad"] <= COPY_MAD:
        return "same_image", ev
    crop_limit = SAME_SHOT_CROP_MAD if ev.get("capture_gap_s") == 0 else CROP_MAD
    if ev["crop_mad"] is not None and ev["crop_mad"] <= crop_limit and ev["crop_mad"] < ev["mad"] - 3:
        return ("same_image" if ev["crop_scale"] >= CROP_MIN_SCALE else "derivative"), ev
    if ev["mad"] <= DERIVATIVE_MAD or (ev["crop_mad"] or 99) <= CROP_MAD:
        return "derivative", ev
    return "similar", ev


def load_items(session) -> dict[str, Item]:
    """Items for every asset with a present file."""
    items: dict[str, Item] = {}
    for r in session.execute(select(FileInstance.asset_id, FileInstance.path, Asset.file_type, Asset.media_kind,
                                    Asset.size_bytes).join(Asset, Asset.asset_id == FileInstance.asset_id)
                             .where(FileInstance.status == "present", Asset.status == "active")
                             .order_by(FileInstance.path)):
        item = items.setdefault(r.asset_id, Item(r.asset_id, [], r.file_type, r.media_kind, r.size_bytes))
        item.paths.append(r.path)
    for h in session.scalars(select(PerceptualHash)):
        if h.asset_id in items:
            it = items[h.asset_id]
            it.hashes = {k: to_unsigned(getattr(h, k)) for k in ("ahash", "dhash", "phash", "whash")}
            it.degenerate = h.degenerate
            if h.signature:
                it.signature = np.frombuffer(h.signature, dtype=np.uint8).reshape(SIGNATURE_PX, SIGNATURE_PX)
    for m in session.execute(select(Metadata.asset_id, Metadata.width, Metadata.height, Metadata.camera_make,
                                    Metadata.camera_model, Metadata.camera_serial, Metadata.lens,
                                    Metadata.gps_latitude, Metadata.exposure_time_s)):
        if m.asset_id in items:
            it = items[m.asset_id]
            it.width, it.height = m.width, m.height
            if m.camera_make or m.camera_model:
                it.camera = (m.camera_make, m.camera_model, m.camera_serial)
            it.richness = sum(v is not None for v in (m.camera_make or m.camera_model, m.lens, m.gps_latitude,
                                                      m.exposure_time_s))
    for d in session.scalars(select(CaptureDate)):
        if d.asset_id in items and d.capture_time:
            it = items[d.asset_id]
            it.capture_time = d.capture_time
            it.time_trusted = d.capture_time_source in TRUSTED_SOURCES and "suspicious" not in (d.flags or [])
            it.richness += it.time_trusted
            stamp = d.capture_time_utc.rstrip("Z") if d.capture_time_utc else d.capture_time
            it.capture_instant = datetime.fromisoformat(stamp[:26])
    for q in session.execute(select(Quality.asset_id, Quality.score)):
        if q.asset_id in items:
            items[q.asset_id].quality = q.score
    return items


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


def detect(session, settings: dict[str, Any], keep_choices: dict[str, str] | None = None) -> tuple[list[Group], dict]:
    """Compute duplicate groups over the whole catalog (see the module docstring).

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
    feedback = {(f.asset_a, f.asset_b) for f in session.scalars(select(DuplicateFeedback))}
    hashed = [it for it in items.values() if it.hashes and not it.degenerate and it.signature is not None]
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
    flat = [it for it in items.values() if it.degenerate and it.signature is not None]
    buckets: dict[tuple, list[Item]] = {}
    for it in flat:
        buckets.setdefault(tuple(it.hashes[k] for k in ("ahash", "dhash", "phash", "whash")), []).append(it)
    flat_pairs = [(a, b) for bucket in buckets.values() for a, b in combinations(bucket, 2)]
    t2 = time.perf_counter()
    edges: list[tuple[float, str, str]] = []
    evidence: dict[tuple[str, str], dict] = {}
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def windows(sig: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if id(sig) not in cache:
            if len(cache) > 300:  # 1.1 MiB of uint8 windows per item: bounded to ~330 MB
                cache.clear()
            cache[id(sig)] = crop_windows(sig)
        return cache[id(sig)]

    classes: dict[str, int] = {}
    for i, j in sorted(candidates):
        a, b = hashed[i], hashed[j]
        if tuple(sorted((a.asset_id, b.asset_id))) in feedback:
            classes["user_not_duplicate"] = classes.get("user_not_duplicate", 0) + 1
            continue
        cls, ev = verify(a, b, settings, windows)
        classes[cls] = classes.get(cls, 0) + 1
        evidence[(a.asset_id, b.asset_id)] = {**ev, "class": cls}
        if cls == "same_image":
            edges.append((min(ev["mad"], ev["crop_mad"] or 99), a.asset_id, b.asset_id))
    for a, b in flat_pairs:
        if tuple(sorted((a.asset_id, b.asset_id))) in feedback:
            continue
        ev = {**compare_pixels(a.signature, b.signature, crop_search=False), "degenerate": True}
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
