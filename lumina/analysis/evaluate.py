"""Pairwise scoring of duplicate groups against a labelled set (format of eval/dev/truth.json).

Predicted pairs: every pair of files inside one reported duplicate group. True pairs: every pair
inside one ``duplicate_groups`` entry, ``exact`` when the bytes are identical and ``same_image``
otherwise. Pairs inside ``same_scene_groups`` that are labelled nowhere else are "don't care";
``similar_not_duplicate`` pairs always count. Also counted: burst-sibling and similar-not-duplicate
pairs wrongly grouped. Bursts, when given: predicted pairs are all frame pairs inside each reported
burst, true pairs all frame pairs inside each ``bursts`` entry. Precision = TP / predicted,
recall = TP / true, F1 their harmonic mean.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path
from typing import Any


def _prf(tp: int, predicted: int, true: int) -> dict[str, float]:
    p = tp / predicted if predicted else 1.0
    r = tp / true if true else 1.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
            "true_positives": tp, "predicted": predicted, "true": true}


def _relative(root: Path):
    def rel(p: str) -> str | None:
        try:
            return str(Path(p).relative_to(root))
        except ValueError:
            return None
    return rel


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def score_bursts(truth: dict[str, Any], root: Path, bursts: list[dict[str, Any]]) -> dict[str, float]:
    """Pairwise precision/recall/F1 of reported ``bursts`` (``lumina bursts`` JSON) against ``truth["bursts"]``."""
    rel = _relative(root)
    true_pairs = {_pair(a, b) for g in truth["bursts"] for a, b in itertools.combinations(g, 2)}
    predicted = set()
    for b in bursts:
        files = sorted({r for f in b["frames"] for p in f["paths"] if (r := rel(p)) is not None})
        predicted.update(_pair(x, y) for x, y in itertools.combinations(files, 2))
    return _prf(len(predicted & true_pairs), len(predicted), len(true_pairs))


def score(truth: dict[str, Any], root: Path, groups: list[dict[str, Any]],
          bursts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The evaluation JSON for reported ``groups`` (``lumina duplicates`` JSON) and, when given,
    ``bursts`` (``lumina bursts`` JSON) of files under ``root``."""
    rel = _relative(root)

    digest = {}
    for img in truth["images"]:
        with open(root / img["path"], "rb") as f:
            digest[img["path"]] = hashlib.sha256(f.read()).hexdigest()
    pair = _pair
    true_pairs = {pair(a, b) for g in truth["duplicate_groups"] for a, b in itertools.combinations(g, 2)}
    kind = lambda p: "exact" if digest.get(p[0]) == digest.get(p[1]) else "same_image"  # noqa: E731
    burst_pairs = {pair(a, b) for g in truth["bursts"] for a, b in itertools.combinations(g, 2)}
    similar = {pair(a, b) for a, b in truth["similar_not_duplicate"]}
    derivative = {pair(a, b) for a, b in truth.get("derivative_pairs", [])}
    dont_care = {pair(a, b) for g in truth.get("same_scene_groups", []) for a, b in itertools.combinations(g, 2)}
    dont_care -= true_pairs | similar | burst_pairs
    predicted: set[tuple[str, str]] = set()
    for g in groups:
        if g["class"] not in ("exact", "same_image"):
            continue
        files = sorted({r for m in g["members"] for p in m["paths"] if (r := rel(p)) is not None})
        predicted.update(pair(a, b) for a, b in itertools.combinations(files, 2))
    predicted -= dont_care
    out: dict[str, Any] = {}
    for name in ("exact", "same_image"):
        t = {p for p in true_pairs if kind(p) == name}
        pred = {p for p in predicted if kind(p) == name}
        out[name] = _prf(len(pred & t), len(pred), len(t))
    out["all"] = _prf(len(predicted & true_pairs), len(predicted), len(true_pairs))
    out["wrongly_grouped"] = {"burst_sibling": len(predicted & burst_pairs), "similar_not_duplicate": len(predicted & similar),
                              "derivative": len(predicted & derivative)}
    result: dict[str, Any] = {"duplicates": out}
    if bursts is not None:
        result["bursts"] = score_bursts(truth, root, bursts)
    return result


TIME_SEPARATED = {"bursts", "frames"}  # eval folders of burst and video frames


def threshold_margins(session, truth: dict[str, Any], root: Path) -> dict[str, dict[str, Any]]:
    """For each duplicate and burst threshold, the largest value seen on true pairs and the smallest
    on false pairs of a labelled set, beside the value in use: the margins of item 8 of issue 14.

    True duplicate pairs: pairs of one ``duplicate_groups`` entry with different bytes, split into
    uncropped and cropped (a file under ``crop/``). False pairs: ``derivative_pairs``,
    ``similar_not_duplicate`` and pairs of two different groups or photos, except pairs with a burst
    or video frame (``TIME_SEPARATED`` folders: near-identical by nature, kept apart by their
    capture times and the burst rules, not by pixels). Burst continuity: consecutive frames of one
    ``bursts`` entry against ``similar_not_duplicate`` pairs.

    Returns:
        ``{threshold: {"value", "true_max", "false_min", "unit"}}``; distances are computed by the
        detection code itself (``signature_distances`` with an unbounded crop search, hashes from
        the catalog, ``lumina.analysis.bursts.signature_mad``).
    """
    import numpy as np
    from sqlalchemy import select

    from lumina.analysis import bursts as burst_rules
    from lumina.analysis import duplicates as rules
    from lumina.catalog.models import FileInstance, PerceptualHash
    from lumina.settings import SETTINGS
    from lumina.stages.hashes import hamming_distance, to_unsigned

    settings = {x.name: x.default for x in SETTINGS}
    rel = _relative(root)
    asset_of: dict[str, str] = {}
    for path, aid in session.execute(select(FileInstance.path, FileInstance.asset_id)
                                     .where(FileInstance.status == "present")):
        if (r := rel(path)) is not None and aid:
            asset_of[r] = aid
    rows = {aid: (to_unsigned(p), to_unsigned(a), to_unsigned(d), sig, to_unsigned(w))
            for aid, p, a, d, sig, w in session.execute(
                select(PerceptualHash.asset_id, PerceptualHash.phash, PerceptualHash.ahash, PerceptualHash.dhash,
                       PerceptualHash.signature, PerceptualHash.whash)) if sig}
    paths = sorted(p for p in asset_of if asset_of[p] in rows)
    slot = {p: k for k, p in enumerate(paths)}
    sigs = np.stack([np.frombuffer(rows[asset_of[p]][3], np.uint8).reshape(64, 64) for p in paths])
    group_of = {p: k for k, g in enumerate(truth["duplicate_groups"]) for p in g}
    near = {_pair(a, b) for g in truth.get("same_scene_groups", []) + truth["bursts"]
            for a, b in itertools.combinations(g, 2)}
    false = {_pair(a, b) for a, b in truth.get("derivative_pairs", []) + truth["similar_not_duplicate"]}
    true_pairs, false_pairs = [], []
    for a, b in itertools.combinations(paths, 2):
        if asset_of[a] == asset_of[b]:
            continue  # exact copies: one asset
        if a in group_of and group_of.get(a) == group_of.get(b):
            true_pairs.append((a, b))
        elif _pair(a, b) in false or not ({a.split("/")[0], b.split("/")[0]} & TIME_SEPARATED or _pair(a, b) in near):
            false_pairs.append((a, b))
    px = rules.signature_distances(sigs, [(slot[a], slot[b]) for a, b in true_pairs + false_pairs],
                                   np.full(len(true_pairs) + len(false_pairs), 255.0))
    t, f = px[:len(true_pairs)], px[len(true_pairs):]
    cropped = np.array([a.startswith("crop/") or b.startswith("crop/") for a, b in true_pairs])
    bits = lambda pairs: np.array([min(hamming_distance(rows[asset_of[a]][h], rows[asset_of[b]][h])  # noqa: E731
                                       for h in (0, 1, 4)) for a, b in pairs])
    # false pairs that an uncropped comparison would pass: what the local bound must stop
    whole_ok = f[:, 0] <= rules.COPY_MAD
    crop_ok = f[:, 2] >= rules.CROP_MIN_SCALE  # false pairs whose best crop is small enough to be a copy's
    frames = [(g[k], g[k + 1]) for g in truth["bursts"] for k in range(len(g) - 1) if g[k] in slot and g[k + 1] in slot]
    similar = [(a, b) for a, b in truth["similar_not_duplicate"] if a in slot and b in slot]
    small = burst_rules._small(sigs)

    def continuity(pairs):
        return (np.array([hamming_distance(rows[asset_of[a]][2], rows[asset_of[b]][2]) for a, b in pairs]),
                np.array([burst_rules.signature_mad(small[slot[a]], small[slot[b]]) for a, b in pairs]))

    burst_bits, burst_mad = continuity(frames)
    look_bits, look_mad = continuity(similar)

    def row(value, true_values, true_names, false_values, false_names, unit):
        out = {"value": value, "true_max": None, "false_min": None, "unit": unit}
        if len(true_values) and not np.isnan(true_values).all():
            k = int(np.nanargmax(true_values))
            out.update(true_max=float(true_values[k]), true_max_pair=list(true_names[k]))
        if len(false_values) and not np.isnan(false_values).all():
            k = int(np.nanargmin(false_values))
            out.update(false_min=float(false_values[k]), false_min_pair=list(false_names[k]))
        return out

    tp, fp = np.array(true_pairs, dtype=object).reshape(-1, 2), np.array(false_pairs, dtype=object).reshape(-1, 2)

    return {
        "duplicate_radius_bits": row(settings["duplicate_radius_bits"], bits(true_pairs), tp, bits(false_pairs), fp,
                                     "bits"),
        "COPY_MAD": row(rules.COPY_MAD, t[~cropped, 0], tp[~cropped], f[:, 0], fp, "grey levels"),
        "LOCAL_MAD": row(rules.LOCAL_MAD, t[~cropped, 3], tp[~cropped], f[whole_ok, 3], fp[whole_ok], "grey levels"),
        "CROP_MAD": row(rules.CROP_MAD, t[cropped, 1], tp[cropped], f[crop_ok, 1], fp[crop_ok], "grey levels"),
        "CROP_MIN_SCALE": row(rules.CROP_MIN_SCALE, -t[cropped, 2], tp[cropped], -f[f[:, 1] <= rules.CROP_MAD, 2],
                              fp[f[:, 1] <= rules.CROP_MAD], "scale (negated: smaller is further)"),
        # false pairs whose crop passes CROP_MAD and the scale: what the crop's local bound must stop
        "CROP_LOCAL_MAD": row(rules.CROP_LOCAL_MAD, t[cropped, 4], tp[cropped], f[crop_ok & (f[:, 1] <= rules.CROP_MAD), 4],
                              fp[crop_ok & (f[:, 1] <= rules.CROP_MAD)], "grey levels"),
        "burst_continuity_bits": row(settings["burst_continuity_bits"], burst_bits, frames, look_bits, similar, "bits"),
        "burst_continuity_mad": row(settings["burst_continuity_mad"], burst_mad, frames, look_mad, similar,
                                    "grey levels"),
    }
