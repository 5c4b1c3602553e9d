"""Running burst detection as a catalog-wide stage: generations swapped in atomically
(``lumina.pipeline.generations``), read back as the stable JSON of ``lumina bursts``, and applied.

User choices of best frame live in ``catalog_state['bursts.choices']`` (asset id -> time chosen),
so that they survive every later run; ``apply`` also writes a choice into the current generation at
once, so nothing needs re-running to show it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update

from lumina.analysis.bursts import RULE_VERSION, USER_REASON, SETTING_NAMES, check_settings, detect, load_frames, load_signatures
from lumina.catalog.db import Catalog
from lumina.catalog.models import Asset, Burst, BurstFrame, BurstGeneration, CatalogState
from lumina.catalog.queries import check_row_id, match_member, present_paths
from lumina.errors import ConfigError, NotFoundError
from lumina.pipeline import generations, leases, stable_ids
from lumina.pipeline.scan import now
from lumina.catalog.writes import upsert

STATE_KEY = "bursts.generation"
CHOICES_KEY = "bursts.choices"
INPUT_STAGES = ("metadata", "dates", "hashes", "quality", "geo")


def current_generation(session) -> BurstGeneration | None:
    return generations.current(session, BurstGeneration, STATE_KEY)


def params_of(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: settings[k] for k in SETTING_NAMES}


def is_stale(session, settings: dict[str, Any]) -> bool:
    """True when no burst generation exists or its inputs changed since (see ``generations.is_stale``)."""
    return generations.is_stale(session, current_generation(session), RULE_VERSION, params_of(settings),
                                INPUT_STAGES)


def run_bursts(catalog: Catalog, force: bool = False) -> dict[str, Any]:
    """Detect bursts over the whole catalog and swap the result in; returns the run's stats.

    Raises:
        ConfigError: invalid thresholds. CatalogError: another writer holds the catalog.
    """
    check_settings(catalog.settings)
    with catalog.writer(), leases.catalog_wide(catalog, "bursts"), catalog.session() as s:
        if not force and not is_stale(s, catalog.settings):
            return {"skipped": "up to date"}
        gen = generations.begin(s, BurstGeneration, RULE_VERSION, params_of(catalog.settings))
        previous = _previous_bursts(s)
        frames = load_frames(s)
        found, stats = detect(frames, catalog.settings, generations.state(s, CHOICES_KEY, {}),
                              lambda ids: load_signatures(s, frames, ids))
        stable = stable_ids.assign(s, "bursts", Burst, previous,
                                   [("burst", [f.asset_id for f in b.frames]) for b in found])
        if found:  # Core inserts: a 100k-asset catalog has tens of thousands of frames
            conn = s.connection()
            ids = conn.execute(insert(Burst.__table__).returning(Burst.__table__.c.id, sort_by_parameter_order=True), [
                {"generation_id": gen.id, "stable_id": sid, "camera": b.camera, "start": b.frames[0].capture_time,
                 "end": b.frames[-1].capture_time, "signals": b.signals, "best_asset_id": b.best.asset_id,
                 "best_reason": b.best_reason} for b, sid in zip(found, stable)]).scalars().all()
            conn.execute(insert(BurstFrame.__table__), [
                {"burst_id": bid, "asset_id": f.asset_id, "position": k, "capture_time": f.capture_time,
                 "quality": {k: round(v, 4) if v is not None else None for k, v in f.quality.items()}, "link": ev}
                for bid, b in zip(ids, found) for k, (f, ev) in enumerate(zip(b.frames, b.links))])
        generations.publish(s, BurstGeneration, STATE_KEY, gen, stats)
        return {"generation": gen.id, **stats}


def _previous_bursts(session) -> list[tuple[int, str, set[str]]]:
    """(stable id, "burst", frame asset ids) of the current generation's bursts."""
    gen = current_generation(session)
    out: dict[int, tuple[int, str, set[str]]] = {}
    for stable_id, aid in session.execute(select(Burst.stable_id, BurstFrame.asset_id).join(BurstFrame)
                                          .where(Burst.generation_id == (gen.id if gen else -1))):
        out.setdefault(stable_id, (stable_id, "burst", set()))[2].add(aid)
    return list(out.values())


def burst_report(session, burst_id: int) -> dict[str, Any]:
    """One burst of the current generation by stable id, with ``generation``.

    Raises:
        NotFoundError: no such burst now; the message says where the frames of a retired id went.
    """
    doc = bursts_report(session, burst_id)
    if doc["bursts"]:
        return {**doc["bursts"][0], "generation": doc["generation"]}
    raise NotFoundError(_gone(session, burst_id))


def _gone(session, burst_id: int) -> str:
    gen = current_generation(session)

    def where_now(asset_ids: list[str]) -> dict[str, int]:
        return dict(session.execute(select(BurstFrame.asset_id, Burst.stable_id).join(Burst)
                                    .where(Burst.generation_id == (gen.id if gen else -1),
                                           BurstFrame.asset_id.in_(asset_ids))).all())

    return stable_ids.gone_message(session, "bursts", "burst", burst_id, where_now,
                                   lambda ids: present_paths(session, ids))


def burst_members(session) -> dict[str, int]:
    """Asset id -> burst id for every frame of the current generation."""
    gen = current_generation(session)
    if gen is None:
        return {}
    return dict(session.execute(select(BurstFrame.asset_id, BurstFrame.burst_id).join(Burst)
                                .where(Burst.generation_id == gen.id)).all())


def bursts_report(session, burst_id: int | None = None) -> dict[str, Any]:
    """``{"generation", "bursts": [{"id", "camera", "start", "end", "signals", "best": {"asset_id",
    "paths", "reason"}, "frames": [{"asset_id", "paths", "capture_time", "quality", "status", "link"}],
    "applied"}], "stats"}``, frames in capture order."""
    gen = current_generation(session)
    if gen is None:
        return {"generation": None, "bursts": [], "stats": {}}
    query = select(Burst).where(Burst.generation_id == gen.id).order_by(Burst.start, Burst.id)
    if burst_id is not None:
        check_row_id(burst_id, "burst")
        query = query.where(Burst.stable_id == burst_id)
    rows = session.scalars(query).all()
    frames: dict[int, list[BurstFrame]] = {}
    for f in session.scalars(select(BurstFrame).where(BurstFrame.burst_id.in_([b.id for b in rows]))
                             .order_by(BurstFrame.burst_id, BurstFrame.position)):
        frames.setdefault(f.burst_id, []).append(f)
    ids = [f.asset_id for fs in frames.values() for f in fs]
    status = dict(session.execute(select(Asset.asset_id, Asset.status).where(Asset.asset_id.in_(ids))).all())
    paths = present_paths(session, ids)
    out = []
    for b in rows:
        fs = frames.get(b.id, [])
        docs = [{"asset_id": f.asset_id, "paths": paths.get(f.asset_id, []), "capture_time": f.capture_time,
                 "quality": f.quality, "status": status.get(f.asset_id), "link": f.link} for f in fs]
        applied = all(d["status"] == "rejected" for d in docs if d["asset_id"] != b.best_asset_id)
        out.append({"id": b.stable_id, "camera": b.camera, "start": b.start, "end": b.end, "signals": b.signals,
                    "best": {"asset_id": b.best_asset_id, "paths": paths.get(b.best_asset_id, []),
                             "reason": b.best_reason},
                    "frames": docs, "applied": applied})
    return {"generation": gen.id, "bursts": out, "stats": gen.stats}


def apply(catalog: Catalog, burst_id: int | None = None, keep: str | None = None,
          all_recommended: bool = False, trash: str | None = None) -> dict[str, Any]:
    """Keep one frame per burst: the others are marked rejected in the catalog; with ``trash`` (a
    folder) their files go to the trash (``lumina.pipeline.trash``), else files are untouched.

    ``burst_id`` with ``keep`` (asset id, unique prefix or path of a frame) applies one burst with the
    user's choice, which later runs respect; ``all_recommended`` applies every burst's best frame.

    Raises:
        NotFoundError: unknown burst. ConfigError: a ``keep`` that is not one of its frames, or neither form given.
    """
    if all_recommended == (burst_id is not None):
        raise ConfigError("give either BURST (with --keep) or --all-recommended")
    if burst_id is not None:
        check_row_id(burst_id, "burst")
    with catalog.writer(), catalog.session() as s:
        doc = bursts_report(s, burst_id)
        if burst_id is not None and not doc["bursts"]:
            raise NotFoundError(_gone(s, burst_id))
        choices = dict(generations.state(s, CHOICES_KEY, {}))
        applied = []
        for b in doc["bursts"]:  # a user's earlier choice stays the recommendation of its burst
            best = next((f["asset_id"] for f in b["frames"] if f["asset_id"] in choices), b["best"]["asset_id"])
            if keep is not None:
                best = match_member(keep, {f["asset_id"]: f["paths"] for f in b["frames"]}, f"burst {b['id']}")
                for f in b["frames"]:  # the latest choice replaces earlier ones in this burst
                    choices.pop(f["asset_id"], None)
                choices[best] = now().isoformat()
                s.execute(update(Burst).where(Burst.generation_id == doc["generation"], Burst.stable_id == b["id"])
                          .values(best_asset_id=best, best_reason=USER_REASON))
            others = [f["asset_id"] for f in b["frames"] if f["asset_id"] != best]
            s.execute(update(Asset).where(Asset.asset_id.in_(others)).values(status="rejected"))
            s.execute(update(Asset).where(Asset.asset_id == best).values(status="active"))
            applied.append({"burst": b["id"], "kept": best, "rejected": others})
        upsert(s, CatalogState, [dict(key=CHOICES_KEY, value=choices)])
        s.commit()
    from lumina.pipeline.sidecars import write_on_change

    write_on_change(catalog, [a for x in applied for a in (x["kept"], *x["rejected"])])
    with catalog.session() as s:
        victims = ([p for a in applied for ps in present_paths(s, a["rejected"]).values() for p in ps]
                   if trash else [])
    if not trash:
        return {"applied": applied}
    from lumina.pipeline.trash import trash_paths

    moved = trash_paths(catalog, victims, "bursts apply", trash)
    return {"applied": applied, "trashed": [e["trash_path"] for e in moved if e["asset_id"]]}
