"""The ``embedding_pairs`` catalog stage: after duplicates and bursts, store the embedding distance of
every verified duplicate pair (member to keeper) and burst pair (consecutive frames), and the
``derivative`` pairs found through embedding neighbours (``lumina.analysis.derivatives``).

The table is rewritten whole in one transaction (readers see the old rows or the new, never a mix).
Its run time and parameters are kept in ``catalog_state['embedding_pairs.run']``.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sqlalchemy import delete, select

from lumina.analysis.derivatives import derivative_pairs
from lumina.catalog.db import Catalog
from lumina.catalog.models import Burst, BurstFrame, CatalogState, DuplicateGroup, DuplicateMember, EmbeddingPair
from lumina.pipeline import bursts_run, duplicates_run, generations, leases
from lumina.pipeline.scan import now
from lumina.catalog.writes import upsert

KEY = "embedding_pairs.run"
RULE_VERSION = 2  # 2: similar-sets are no longer "duplicate" pairs
SETTING_NAMES = ("derivative_max_cosine_distance",)
INPUT_STAGES = ("embeddings",)
DUPLICATE_CLASSES = ("exact", "same_image")  # the groups whose members are copies of their keeper


def current_generation(session) -> Any | None:
    """The last run as an object with ``started_at``, ``rule_version``, ``params`` and ``stats``
    (``present_files`` when it ran, as ``generations.is_stale`` reads it), or None."""
    doc = generations.state(session, KEY, None)
    if doc is None:
        return None
    from datetime import datetime

    return SimpleNamespace(started_at=datetime.fromisoformat(doc["started_at"]), rule_version=doc["rule_version"],
                           params=doc["params"], stats=doc.get("stats"))


def params_of(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: settings[k] for k in SETTING_NAMES}


def is_stale(session, settings: dict[str, Any]) -> bool:
    """True when never run, its parameters changed, or embeddings, duplicates or bursts are newer."""
    newer = [g.started_at for g in (duplicates_run.current_generation(session), bursts_run.current_generation(session))
             if g is not None]
    return generations.is_stale(session, current_generation(session), RULE_VERSION, params_of(settings),
                                INPUT_STAGES, newer)


def run_embedding_pairs(catalog: Catalog, force: bool = False) -> dict[str, Any]:
    """Recompute the table (see the module docstring); returns counts per relation."""
    from lumina.analysis.search import vector_index

    with catalog.writer(), leases.catalog_wide(catalog, "embedding_pairs"), catalog.session() as s:
        if not force and not is_stale(s, catalog.settings):
            return {"skipped": "up to date"}
        started = now()
        index = vector_index(catalog)
        row_of = {a: i for i, a in enumerate(index.ids)}
        # asset -> the groups and bursts it belongs to: two assets in one are related already. Keys,
        # not member sets: a similar-set of 5,000 frames would be 25 million set entries (10 GB
        # at 20,000 frames of one scene), a key per member is 5,000.
        clusters: dict[str, set[tuple[str, int]]] = {}
        rows: list[dict[str, Any]] = []

        def pair(a: str, b: str, relation: str) -> None:
            if a in row_of and b in row_of and a != b:
                va, vb = (index.vector(row_of[x]) for x in (a, b))
                lo, hi = sorted((a, b))
                rows.append({"asset_a": lo, "asset_b": hi, "relation": relation, "model_id": index.model_id,
                             "distance": round(max(0.0, 1.0 - float(va @ vb)), 4)})

        dup = duplicates_run.current_generation(s)
        if dup is not None:
            for g in s.scalars(select(DuplicateGroup).where(DuplicateGroup.generation_id == dup.id)):
                members = s.scalars(select(DuplicateMember.asset_id).where(DuplicateMember.group_id == g.id)).all()
                if g.group_class in DUPLICATE_CLASSES:  # similar-sets, derivative sets, Live Photos: not copies
                    for m in dict.fromkeys(members):
                        pair(g.keeper_asset_id, m, "duplicate")
                for a in members:
                    clusters.setdefault(a, set()).add(("group", g.id))
        bursts = bursts_run.current_generation(s)
        if bursts is not None:
            for b in s.scalars(select(Burst).where(Burst.generation_id == bursts.id)):
                frames = s.scalars(select(BurstFrame.asset_id).where(BurstFrame.burst_id == b.id)
                                   .order_by(BurstFrame.position)).all()
                for x, y in zip(frames, frames[1:]):
                    pair(x, y, "burst")
                for a in frames:
                    clusters.setdefault(a, set()).add(("burst", b.id))
        derivatives = derivative_pairs(index, clusters, float(catalog.settings["derivative_max_cosine_distance"]))
        rows += [{"asset_a": a, "asset_b": b, "relation": "derivative", "distance": d, "model_id": index.model_id}
                 for a, b, d in derivatives]
        unique = {(r["asset_a"], r["asset_b"], r["relation"]): r for r in rows}
        s.execute(delete(EmbeddingPair))
        if unique:
            s.execute(EmbeddingPair.__table__.insert(), list(unique.values()))
        upsert(s, CatalogState, [dict(key=KEY, value={"started_at": started.isoformat(), "rule_version": RULE_VERSION,
                                             "params": params_of(catalog.settings),
                                             "stats": {"present_files": generations.present_files(s)}})])
        s.commit()
        counts: dict[str, int] = {}
        for r in unique.values():
            counts[r["relation"]] = counts.get(r["relation"], 0) + 1
        return counts


def derivatives_report(session) -> list[dict[str, Any]]:
    """``[{"asset_a", "paths_a", "asset_b", "paths_b", "distance", "model_id"}]``, nearest first."""
    from lumina.catalog.queries import present_paths

    rows = session.scalars(select(EmbeddingPair).where(EmbeddingPair.relation == "derivative")
                           .order_by(EmbeddingPair.distance, EmbeddingPair.asset_a)).all()
    paths = present_paths(session, sorted({r.asset_a for r in rows} | {r.asset_b for r in rows}))
    return [{"asset_a": r.asset_a, "paths_a": paths.get(r.asset_a, []), "asset_b": r.asset_b,
             "paths_b": paths.get(r.asset_b, []), "distance": r.distance, "model_id": r.model_id} for r in rows]


def duplicates_with_derivative_pairs(session) -> dict[str, Any]:
    """``lumina duplicates --format json`` and ``GET /api/catalogs/{id}/duplicates``: the current
    duplicate generation (``duplicates_run.duplicates_report``) plus ``derivative_pairs``, the edits
    found through embedding neighbours (``derivatives_report``), never in ``groups``."""
    return {**duplicates_run.duplicates_report(session), "derivative_pairs": derivatives_report(session)}
