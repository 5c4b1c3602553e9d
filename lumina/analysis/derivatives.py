"""Embedding distances for verified pairs, and derivatives found through embedding neighbours.

An edit the hash search cannot reach (a strong crop, a colour grade) keeps what the picture
shows, so its image embedding stays near the original's. ``derivative_pairs`` takes, for every
asset, its ``NEIGHBOURS`` nearest by cosine distance, and keeps a pair when it is within
``derivative_max_cosine_distance`` and the two are neither in one duplicate group nor frames of one
burst. Such pairs are ``derivative``: reported apart, never grouped as ``same_image``.

Threshold: on ../shared/eval/dev (MobileNetV2 vectors) the labelled derivative pairs and the copies
of their originals lie at 0.075-0.193, unrelated photos from 0.184; two "similar, not duplicate"
pairs (the same scene shot twice) lie at 0.061 and 0.093 and are reported as derivatives too: an
embedding cannot tell a second shot of a scene from an edit. Default 0.17 (see the closing note of
issue 18 for the counts).
"""

from __future__ import annotations

NEIGHBOURS = 5  # an original rarely has more than a handful of edits; more would only add far pairs


def derivative_pairs(index, clusters: dict[str, set], max_distance: float) -> list[tuple[str, str, float]]:
    """``(asset_a, asset_b, cosine distance)`` with ``asset_a < asset_b``, nearest first.

    Args:
        index: a ``lumina.analysis.similar.VectorIndex``.
        clusters: asset id -> keys of the duplicate groups, similar-sets and bursts it belongs to;
            two assets sharing a key are related already and never a derivative pair. Memory is one
            key per membership (a member set per asset would grow with the square of a cluster).
        max_distance: cosine distance (0-2) at or under which a neighbour is a derivative.
    """
    found: dict[tuple[str, str], float] = {}
    none: set = set()
    for row, aid in enumerate(index.ids):
        query = index.vector(row)
        mine = clusters.get(aid, none)
        for other, d in index.search(query, NEIGHBOURS, exclude={aid}):
            if d <= max_distance and not (mine & clusters.get(other, none)):
                found[tuple(sorted((aid, other)))] = d
    return sorted(((a, b, d) for (a, b), d in found.items()), key=lambda p: (p[2], p[0], p[1]))
