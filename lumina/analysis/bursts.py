"""Burst detection: frames of one camera shot in quick succession, stacked, with the best frame.

Rule version ``RULE_VERSION``:

* **Hard signal**: a shared burst identifier (``BURST_ID_TAGS``: Apple's ``BurstUUID`` in
  MakerNotes or XMP, Google Camera's ``GCamera:BurstID``, Google's ``GCreations:CameraBurstID``;
  Nikon's ``BurstGroupID`` when not 0, scoped to its camera) makes one burst of every asset
  carrying it, whatever their times and however the camera panned.
* **Sequence numbers** (``SEQUENCE_TAGS``: Canon, Fujifilm, Casio, Kodak ``SequenceNumber``, Sony
  ``SequenceFileNumber``, the shot's number within a continuous-drive burst): consecutive frames
  of one camera numbered n, n + 1 (n >= 1) within ``burst_max_gap_s`` are linked without the
  visual check (the camera may pan during a burst).
* **Soft signals**, all required between consecutive frames: the same device: the same camera
  (make, model and serial when present) or, for frames without camera tags (stripped by an app,
  screenshots, some action cams), the same folder and the same file-name pattern (digits
  replaced by ``#``: ``IMG_#.JPG``), and then only with sub-second times (``CAMERALESS``); a trusted capture time (the sources of
  ``lumina.analysis.duplicates.is_trusted_time_source``, not flagged suspicious) with a gap of at most
  ``burst_max_gap_s`` (sub-second aware: sub-second digits are used when present); visual
  continuity: dHash within ``burst_continuity_bits`` (looser than the duplicate radius) and a 64 px
  grey-signature mean absolute difference (32x32, grey levels) within ``burst_continuity_mad``
  (catches colour and brightness changes the hashes ignore); and, when both frames have GPS, at
  most ``burst_max_distance_m`` apart (haversine). Calibrated on ../shared/eval/dev: consecutive
  burst frames reach dHash 12 and MAD 17.2; unrelated shots within 2 s (case B18) have dHash >= 20
  or MAD >= 36. Time proximity alone, or a file-name sequence, never makes a burst; whole-second
  times are accepted only together with visual continuity and marked ``time_precision: second``.
* **Detection**: per camera, sort on capture time and sweep once (O(n log n)); a run splits where
  a link fails. Assets with the same camera and the same capture time are one shot (copies,
  conversions, crops and edits keep the original's EXIF time): only the first by path is a frame,
  the others are left to duplicate detection. So frames of a camera that records whole seconds
  only cannot be told apart within one second (a known limit). Bursts smaller than
  ``burst_min_frames`` are dropped. Whole-catalog detection, so no burst is cut at a batch edge.
* **Best frame** (``best_frame``): sharpness first (variance of the Laplacian, frames within
  ``SHARPNESS_TIE`` of the sharpest tie), then exposure (the quality stage's exposure component,
  within ``EXPOSURE_TIE``), then the middle frame; a user's choice overrides.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Text, cast, select

from lumina.analysis.duplicates import is_trusted_time_source
from lumina.analysis.rules import BURSTS_RULE_VERSION as RULE_VERSION  # its history is there
from lumina.analysis.rules import BURSTS_SETTING_NAMES as SETTING_NAMES
from lumina.catalog.models import Asset, CaptureDate, FileInstance, Metadata, PerceptualHash, Place, Quality
from lumina.errors import ConfigError
from lumina.stages.hashes import hamming_distance, to_unsigned

SHARPNESS_TIE = 0.05  # relative: frames within 5 % of the sharpest are equally sharp
EXPOSURE_TIE = 0.02  # exposure component (0-1)
EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)
USER_REASON = "user: chosen with `lumina bursts apply`"


# (tag, scope): identifiers shared by the frames of one burst; "camera": the value repeats across cameras
BURST_ID_TAGS = (("MakerNotes:BurstUUID", "global"), ("XMP:BurstUUID", "global"), ("XMP:BurstID", "global"),
                 ("XMP:CameraBurstID", "global"), ("MakerNotes:BurstGroupID", "camera"))
SEQUENCE_TAGS = ("MakerNotes:SequenceNumber", "MakerNotes:SequenceFileNumber")  # shot number within a burst
CAMERALESS = "no camera tags: same folder and file-name pattern"


@dataclass(slots=True)
class Frame:
    """What burst detection knows about one asset."""

    asset_id: str
    paths: list[str]
    status: str
    camera: tuple | None = None
    capture_time: str | None = None
    instant: datetime | None = None
    subsecond: bool = False
    trusted: bool = False
    time_source: str | None = None
    burst_uuid: str | None = None  # any burst identifier of BURST_ID_TAGS, prefixed by its tag
    sequence: int | None = None  # shot number within a continuous-drive burst (SEQUENCE_TAGS)
    dhash: int | None = None
    signature: np.ndarray | None = None  # 32x32 float32 (``_small``), loaded on demand
    gps: tuple[float, float] | None = None
    quality: dict[str, float] = field(default_factory=dict)


def device_of(frame: Frame) -> tuple | None:
    """The device a frame's burst must share: its camera, or for a frame without camera tags and
    with a sub-second capture time, (``CAMERALESS``, folder, file-name pattern); None otherwise."""
    if frame.camera is not None:
        return frame.camera
    if not frame.subsecond or not frame.paths:
        return None
    folder, _, name = frame.paths[0].rpartition("/")
    return (CAMERALESS, folder, re.sub(r"\d+", "#", name))


def ineligible_reason(frame: Frame) -> str | None:
    """Why an asset cannot join a burst by the soft signals (None when it can)."""
    if frame.camera is None and (frame.capture_time is None or not frame.subsecond):
        return "no camera in file"  # and no sub-second time that could stand in for it (see device_of)
    if frame.capture_time is None:
        return "no capture time"
    if not frame.trusted:
        return f"no trustworthy capture time ({frame.time_source or 'none'})"
    if frame.dhash is None:
        return "no hashes"
    return None


def load_frames(session) -> dict[str, Frame]:
    """Frames for every photo with a present file (rejected frames included, so that an applied
    burst keeps its shape on later runs). One Core query over the joined tables; signatures are
    loaded later, only where needed (``load_signatures``)."""
    frames: dict[str, Frame] = {}
    suspicious = cast(CaptureDate.flags, Text).like('%"suspicious"%')
    query = (select(FileInstance.asset_id, FileInstance.path, Asset.status, Metadata.camera_make,
                    Metadata.camera_model, Metadata.camera_serial, Metadata.burst_uuid, CaptureDate.capture_time,
                    CaptureDate.capture_time_source, suspicious, PerceptualHash.dhash,
                    PerceptualHash.signature.is_not(None), Place.gps_latitude, Place.gps_longitude, Quality.score,
                    Quality.sharpness, Quality.components["exposure"].as_float())
             .join(Asset, Asset.asset_id == FileInstance.asset_id)
             .outerjoin(Metadata, Metadata.asset_id == FileInstance.asset_id)
             .outerjoin(CaptureDate, CaptureDate.asset_id == FileInstance.asset_id)
             .outerjoin(PerceptualHash, PerceptualHash.asset_id == FileInstance.asset_id)
             .outerjoin(Place, Place.asset_id == FileInstance.asset_id)
             .outerjoin(Quality, Quality.asset_id == FileInstance.asset_id)
             .where(FileInstance.status == "present", Asset.media_kind == "photo"))
    ids = [Metadata.tags[tag].as_string() for tag, _ in BURST_ID_TAGS]
    sequences = [Metadata.tags[tag].as_string() for tag in SEQUENCE_TAGS]
    query = query.add_columns(*ids, *sequences)
    for (aid, path, status, make, model, serial, uuid, when, source, is_suspicious, dhash, has_sig, lat, lon,
         score, sharpness, exposure, *extra) in session.connection().execute(query):
        f = frames.get(aid)
        if f is not None:
            f.paths.append(path)
            continue
        f = frames[aid] = Frame(aid, [path], status)
        if make or model:
            f.camera = (make, model, serial)
        f.burst_uuid = burst_identifier(f.camera, [uuid, *extra[:len(BURST_ID_TAGS)]])
        f.sequence = next((int(v) for v in extra[len(BURST_ID_TAGS):] if _is_int(v)), None)
        if when:
            f.capture_time, f.time_source = when, source
            f.instant = datetime.fromisoformat(when[:26])
            f.subsecond = "." in when
            f.trusted = is_trusted_time_source(source) and not is_suspicious
        if dhash is not None and has_sig:
            f.dhash = to_unsigned(dhash)
        if lat is not None:
            f.gps = (lat, lon)
        if score is not None:
            f.quality = {"score": score, "sharpness": sharpness, "exposure": exposure}
    for f in frames.values():
        if len(f.paths) > 1:
            f.paths.sort()
    return frames


def burst_identifier(camera: tuple | None, values: list) -> str | None:
    """The first burst identifier present: the ``burst_uuid`` column, then ``BURST_ID_TAGS`` in
    order, prefixed by its tag (and its camera for camera-scoped ones); 0 and empty mean none."""
    for (tag, scope), value in zip((("burst_uuid", "global"), *BURST_ID_TAGS), values):
        if value in (None, "", 0, "0"):
            continue
        return f"{tag}={value}" + (f"@{camera}" if scope == "camera" else "")
    return None


def _is_int(value: Any) -> bool:
    try:
        int(value)
    except (TypeError, ValueError):
        return False
    return True


def load_signatures(session, frames: dict[str, Frame], asset_ids: Collection[str]) -> None:
    """Fill in the 64x64 signatures of ``asset_ids`` (4 KiB each: loaded only for frames that have a
    neighbour close enough in time to need the visual check)."""
    ids = sorted(asset_ids)
    for start in range(0, len(ids), 500):
        rows = [(aid, sig) for aid, sig in session.connection().execute(
            select(PerceptualHash.asset_id, PerceptualHash.signature)
            .where(PerceptualHash.asset_id.in_(ids[start:start + 500]))) if sig]
        if rows:
            small = _small(np.frombuffer(b"".join(sig for _, sig in rows), dtype=np.uint8))
            for (aid, _), sig in zip(rows, small):
                frames[aid].signature = sig


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in metres between two (latitude, longitude) points in degrees
    (haversine formula, R. W. Sinnott, Sky & Telescope 68(2), 1984)."""
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _small(signatures: np.ndarray) -> np.ndarray:
    """64x64 uint8 signatures (N x 4096 values, flat or shaped) as (N, 32, 32) float32 after 2x2 box
    averaging."""
    x = signatures.reshape(-1, 64, 64).astype(np.uint16)
    return (x[:, 0::2, 0::2] + x[:, 1::2, 0::2] + x[:, 0::2, 1::2] + x[:, 1::2, 1::2]).astype(np.float32) / 4


def signature_mad(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference (grey levels 0-255) of two signatures as given by ``_small``."""
    return float(np.abs(a - b).mean())


def link(a: Frame, b: Frame, settings: dict[str, Any], mad: float | None = None) -> tuple[bool, dict[str, Any]]:
    """Whether consecutive frames ``a`` then ``b`` (same camera, time order) belong to one burst,
    and the evidence. ``mad``: their ``signature_mad`` when already computed."""
    gap = (b.instant - a.instant).total_seconds()
    ev: dict[str, Any] = {"gap_s": round(gap, 3)}
    if not 0 < gap <= float(settings["burst_max_gap_s"]):
        return False, ev
    if a.sequence is not None and a.sequence >= 1 and b.sequence == a.sequence + 1:
        ev["sequence"] = [a.sequence, b.sequence]  # the camera numbered them as one burst: it may have panned
    mad = signature_mad(a.signature, b.signature) if mad is None else mad
    ev.update(dhash=hamming_distance(a.dhash, b.dhash), mad=round(mad, 2))
    if a.gps and b.gps:
        ev["distance_m"] = round(haversine_m(a.gps, b.gps), 1)
    ok = ((ev["dhash"] <= int(settings["burst_continuity_bits"])
           and ev["mad"] <= float(settings["burst_continuity_mad"]) or "sequence" in ev)
          and ev.get("distance_m", 0.0) <= float(settings["burst_max_distance_m"]))
    return ok, ev


def best_frame(frames: list[Frame]) -> tuple[Frame, str]:
    """The frame to keep and the reason: sharpest (ties within ``SHARPNESS_TIE``), then best
    exposed (ties within ``EXPOSURE_TIE``), then the middle one of the tied frames."""
    def value(f: Frame, key: str) -> float:
        v = f.quality.get(key)
        return float(v) if v is not None else -1.0

    tied = list(frames)
    top = max(value(f, "sharpness") for f in tied)
    sharp = [f for f in tied if value(f, "sharpness") >= top * (1 - SHARPNESS_TIE)] if top > 0 else tied
    if len(sharp) == 1:
        rest = max(value(f, "sharpness") for f in tied if f is not sharp[0])
        return sharp[0], f"sharpness: {top:.1f} vs next {rest:.1f} (variance of the Laplacian)"
    top_e = max(value(f, "exposure") for f in sharp)
    exposed = [f for f in sharp if value(f, "exposure") >= top_e - EXPOSURE_TIE]
    if len(exposed) == 1:
        rest = max(value(f, "exposure") for f in sharp if f is not exposed[0])
        return exposed[0], (f"exposure: {top_e:.3f} vs next {rest:.3f} among {len(sharp)} frames "
                            f"equally sharp (within {SHARPNESS_TIE:.0%})")
    middle = (len(frames) - 1) / 2
    pick = min(exposed, key=lambda f: (abs(frames.index(f) - middle), frames.index(f)))
    return pick, f"middle frame: {len(exposed)} frames tie on sharpness and exposure"


@dataclass
class Found:
    """One detected burst."""

    camera: str
    frames: list[Frame]
    links: list[dict[str, Any]]
    signals: dict[str, Any]
    best: Frame
    best_reason: str


def _camera_text(camera: tuple | None) -> str:
    if camera and camera[0] == CAMERALESS:
        return f"unknown camera ({CAMERALESS}: {camera[2]})"
    return " ".join(str(x) for x in camera if x) if camera else "unknown camera"


def check_settings(settings: dict[str, Any]) -> None:
    """Raises ConfigError on thresholds that cannot work."""
    if int(settings["burst_min_frames"]) < 2:
        raise ConfigError("burst_min_frames must be at least 2")
    if not 0 <= int(settings["burst_continuity_bits"]) <= 64:
        raise ConfigError("burst_continuity_bits must be 0..64")


def detect(frames: dict[str, Frame], settings: dict[str, Any], choices: dict[str, Any] | None = None,
           fetch_signatures: Callable[[set[str]], None] | None = None) -> tuple[list[Found], dict[str, Any]]:
    """Every burst in the catalog (see the module docstring).

    Args:
        frames: from ``load_frames``.
        settings: resolved settings (``SETTING_NAMES``).
        choices: asset ids the user chose as best frames.
        fetch_signatures: fills in ``Frame.signature`` for the given asset ids (``load_signatures``);
            called once, for the frames with a neighbour within ``burst_max_gap_s``.
    Returns:
        (bursts in order of start time, stats with counts and ineligibility reasons).
    Raises:
        ConfigError: invalid thresholds.
    """
    check_settings(settings)
    min_frames = int(settings["burst_min_frames"])
    choices = choices or {}
    found: list[tuple[list[Frame], list[dict], dict]] = []
    by_uuid: dict[str, list[Frame]] = {}
    for f in frames.values():
        if f.burst_uuid:
            by_uuid.setdefault(f.burst_uuid, []).append(f)
    hard = {f.asset_id for fs in by_uuid.values() if len(fs) >= min_frames for f in fs}
    for uuid, fs in by_uuid.items():
        if len(fs) >= min_frames:
            fs.sort(key=lambda f: (f.instant or datetime.min, f.paths[0] if f.paths else ""))
            tag, _, value = uuid.partition("=")
            found.append((fs, [{"burst_id": tag}] * (len(fs) - 1), {"burst_id": {"tag": tag, "value": value}}))
    reasons: dict[str, int] = {}
    per_camera: dict[tuple, list[Frame]] = {}
    for f in frames.values():
        if f.asset_id in hard:
            continue
        why = ineligible_reason(f)
        if why is not None:
            reasons[why] = reasons.get(why, 0) + 1
            continue
        per_camera.setdefault(device_of(f), []).append(f)
    max_gap = float(settings["burst_max_gap_s"])
    same_shot = 0
    shots: list[list[Frame]] = []  # per camera, time order, one frame per capture time
    for fs in per_camera.values():
        fs.sort(key=lambda f: (f.instant, f.paths[0] if f.paths else ""))
        kept = [fs[0]]
        for f in fs[1:]:
            if f.instant == kept[-1].instant:
                same_shot += 1  # a copy, conversion or edit of one shot: duplicate detection's business
            else:
                kept.append(f)
        shots.append(kept)
    near = [(a, b) for fs in shots for a, b in zip(fs, fs[1:]) if (b.instant - a.instant).total_seconds() <= max_gap]
    if fetch_signatures is not None:
        fetch_signatures({f.asset_id for pair in near for f in pair if f.signature is None})
    mads: dict[tuple[str, str], float] = {}  # the visual check of all time-adjacent pairs, vectorised
    for start in range(0, len(near), 4096):
        chunk = near[start:start + 4096]
        diff = np.abs(np.stack([a.signature for a, _ in chunk]) - np.stack([b.signature for _, b in chunk]))
        mads.update(((a.asset_id, b.asset_id), float(m)) for (a, b), m in zip(chunk, diff.mean(axis=(1, 2))))
    for fs in shots:
        run: list[Frame] = [fs[0]]
        evidence: list[dict] = []
        for prev, f in zip(fs, fs[1:]):
            ok, ev = link(prev, f, settings, mads.get((prev.asset_id, f.asset_id)))
            if ok:
                run.append(f)
                evidence.append(ev)
                continue
            if len(run) >= min_frames:
                found.append((run, evidence, {}))
            run, evidence = [f], []
        if len(run) >= min_frames:
            found.append((run, evidence, {}))
    out: list[Found] = []
    for fs, evidence, extra in found:
        signals = dict(extra)
        soft = [e for e in evidence if "gap_s" in e]
        if soft:
            device = device_of(fs[0])
            signals.update({"same_camera": True} if device and device[0] != CAMERALESS else {"same_device": CAMERALESS})
            signals.update(max_gap_s=max(e["gap_s"] for e in soft),
                           max_dhash=max(e.get("dhash", 0) for e in soft), max_mad=max(e.get("mad", 0) for e in soft))
            if any("sequence" in e for e in soft):
                signals["sequence_numbers"] = True
            if any("distance_m" in e for e in soft):
                signals["max_distance_m"] = max(e.get("distance_m", 0.0) for e in soft)
        signals["time_precision"] = "subsecond" if all(f.subsecond for f in fs) else "second"
        chosen = [f for f in fs if f.asset_id in choices]
        if chosen:
            best, why = chosen[0], USER_REASON
        else:
            best, why = best_frame(fs)
        cameras = {device_of(f) for f in fs}
        out.append(Found(_camera_text(device_of(fs[0])) if len(cameras) == 1 else "several cameras", fs,
                         [{}] + evidence, signals, best, why))
    out.sort(key=lambda b: (b.frames[0].capture_time or "", b.frames[0].asset_id))
    stats = {"assets": len(frames), "bursts": len(out), "frames": sum(len(b.frames) for b in out),
             "hard_id_bursts": sum(1 for b in out if "burst_id" in b.signals), "same_shot_skipped": same_shot,
             "whole_second_bursts": sum(1 for b in out if b.signals["time_precision"] == "second"),
             "whole_second_times": sum(1 for f in frames.values() if f.capture_time and not f.subsecond),
             "ineligible": dict(sorted(reasons.items(), key=lambda kv: -kv[1])), "rule_version": RULE_VERSION}
    return out, stats
