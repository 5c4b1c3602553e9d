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
