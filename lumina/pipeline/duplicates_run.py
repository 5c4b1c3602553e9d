"""Running duplicate detection as a catalog-wide stage: generations swapped in atomically
(``lumina.pipeline.generations``), read back as the stable JSON of ``lumina duplicates``, resolved,
and given "not duplicates" feedback.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update

from lumina.analysis.duplicates import RULE_VERSION, SETTING_NAMES, detect
from lumina.catalog.db import Catalog
from lumina.catalog.models import (Asset, CatalogState, DuplicateFeedback, DuplicateGeneration, DuplicateGroup,
                                   DuplicateMember, StageRecord, UserOverride)
from lumina.catalog.queries import check_row_id, match_member, present_paths, resolve_asset_id
from lumina.errors import CatalogError, ConfigError, NotFoundError
from lumina.pipeline import generations, leases, stable_ids
from lumina.pipeline.scan import now
from lumina.catalog.writes import upsert

STATE_KEY = "duplicates.generation"
KEEP_KEY = "duplicates.keepers"
INPUT_STAGES = ("hashes", "dates", "metadata", "quality")
# where each group class goes in the report (``groups``: the duplicate groups only)
REPORT_KEYS = {"exact": "groups", "same_image": "groups", "live_photo": "live_photos", "similar_set": "similar_sets",
               "derivative": "derivatives"}
FAMILY = {"exact": "duplicates", "same_image": "duplicates"}  # classes whose ids may pass to each other


def current_generation(session) -> DuplicateGeneration | None:
    return generations.current(session, DuplicateGeneration, STATE_KEY)


def is_stale(session, settings: dict[str, Any]) -> bool:
    """True when no generation exists, its rule or parameters changed, or its inputs (stage records,
    new files, feedback, the burst generation) are newer than it."""
    from lumina.pipeline.bursts_run import current_generation as current_bursts

    bursts = current_bursts(session)
    feedback = session.scalar(select(DuplicateFeedback.created_at).order_by(DuplicateFeedback.created_at.desc()))
    return generations.is_stale(session, current_generation(session), RULE_VERSION,
                                {k: settings[k] for k in SETTING_NAMES}, INPUT_STAGES,
                                [bursts.finished_at if bursts else None, feedback])


def run_duplicates(catalog: Catalog, force: bool = False) -> dict[str, Any]:
    """Detect duplicates over the whole catalog and swap the result in; returns the run's stats.

    Raises:
        ConfigError: invalid thresholds. CatalogError: another writer holds the catalog.
    """
    with catalog.writer(), leases.catalog_wide(catalog, "duplicates"), catalog.session() as s:
        if not force and not is_stale(s, catalog.settings):
            return {"skipped": "up to date"}
        gen = generations.begin(s, DuplicateGeneration, RULE_VERSION, {k: catalog.settings[k] for k in SETTING_NAMES})
        from lumina.pipeline.bursts_run import burst_members

        previous = _previous_groups(s)
        groups, stats = detect(s, catalog.settings, generations.state(s, KEEP_KEY, None), burst_members(s))
        ids = stable_ids.assign(s, "duplicates", DuplicateGroup, previous,
                                [(FAMILY.get(g.group_class, g.group_class), [m["asset_id"] for m in g.members])
                                 for g in groups])
        if groups:  # Core inserts: a similar-set can hold a whole 100k-asset catalog
            conn = s.connection()
            rows = conn.execute(insert(DuplicateGroup.__table__).returning(DuplicateGroup.__table__.c.id,
                                                                           sort_by_parameter_order=True), [
                {"generation_id": gen.id, "stable_id": sid, "group_class": g.group_class, "reason": g.reason,
                 "keeper_asset_id": g.keeper, "keeper_path": g.keeper_path, "keeper_reason": g.keeper_reason,
                 "resolved_at": None} for g, sid in zip(groups, ids)]).scalars().all()
            conn.execute(insert(DuplicateMember.__table__), [
                {"group_id": row, "asset_id": m["asset_id"], "path": m["path"], "member_class": m["class"],
                 "distances": m["distances"]} for row, g in zip(rows, groups) for m in g.members])
        generations.publish(s, DuplicateGeneration, STATE_KEY, gen, stats)
        return {"generation": gen.id, **stats}


def _previous_groups(session) -> list[tuple[int, str, set[str]]]:
    """(stable id, family, member asset ids) of the current generation's groups."""
    gen = current_generation(session)
    if gen is None:
        return []
    out: dict[int, tuple[int, str, set[str]]] = {}
    for stable_id, cls, aid in session.execute(
            select(DuplicateGroup.stable_id, DuplicateGroup.group_class, DuplicateMember.asset_id)
            .join(DuplicateMember, DuplicateMember.group_id == DuplicateGroup.id)
            .where(DuplicateGroup.generation_id == gen.id)):
        out.setdefault(stable_id, (stable_id, FAMILY.get(cls, cls), set()))[2].add(aid)
    return list(out.values())


def _paths(session, asset_id: str) -> list[str]:
    return present_paths(session, [asset_id]).get(asset_id, [])


def duplicates_report(session, group_id: int | None = None) -> dict[str, Any]:
    """``{"generation", "groups": [{"id", "class", "reason", "keeper": {"asset_id", "paths", "reason"},
    "members": [{"asset_id", "paths", "class", "distances"}], "resolved"}], "live_photos": [...],
    "similar_sets": [...], "derivatives": [...], "stats"}``: ``groups`` holds the duplicate groups
    (``exact``, ``same_image``), the other keys the other results in the same shape (``REPORT_KEYS``).
    ``id`` is the group's stable id (``lumina.pipeline.stable_ids``); ``group_id`` picks one."""
    gen = current_generation(session)
    empty = {key: [] for key in dict.fromkeys(REPORT_KEYS.values())}
    if gen is None:
        return {"generation": None, **empty, "stats": {}}
    query = select(DuplicateGroup).where(DuplicateGroup.generation_id == gen.id).order_by(DuplicateGroup.id)
    if group_id is not None:
        query = query.where(DuplicateGroup.stable_id == check_row_id(group_id, "duplicate group"))
    rows = session.scalars(query).all()
    members: dict[int, list[DuplicateMember]] = {}
    for k in range(0, len(rows), 500):
        for m in session.scalars(select(DuplicateMember)
                                 .where(DuplicateMember.group_id.in_([g.id for g in rows[k:k + 500]]))
                                 .order_by(DuplicateMember.id)):
            members.setdefault(m.group_id, []).append(m)
    paths = present_paths(session, sorted({m.asset_id for ms in members.values() for m in ms if not m.path}
                                          | {g.keeper_asset_id for g in rows if not g.keeper_path}))
    out = {key: [] for key in empty}
    for g in rows:
        docs = [{"asset_id": m.asset_id, "paths": [m.path] if m.path else paths.get(m.asset_id, []),
                 "class": m.member_class, "distances": m.distances} for m in members.get(g.id, [])]
        keeper_paths = [g.keeper_path] if g.keeper_path else paths.get(g.keeper_asset_id, [])
        out[REPORT_KEYS[g.group_class]].append({
            "id": g.stable_id, "class": g.group_class, "reason": g.reason,
            "keeper": {"asset_id": g.keeper_asset_id, "paths": keeper_paths, "reason": g.keeper_reason},
            "members": docs, "resolved": g.resolved_at.isoformat() + "Z" if g.resolved_at else None})
    return {"generation": gen.id, **out, "stats": gen.stats}


def group_report(session, group_id: int) -> dict[str, Any]:
    """One group of the current generation by stable id, any class, with ``generation``.

    Raises:
        NotFoundError: no such group now; the message says where the members of a retired id went.
    """
    doc = duplicates_report(session, group_id)
    for key in dict.fromkeys(REPORT_KEYS.values()):
        if doc[key]:
            return {**doc[key][0], "generation": doc["generation"]}
    raise NotFoundError(_gone(session, group_id))


def _gone(session, group_id: int) -> str:
    gen = current_generation(session)

    def where_now(asset_ids: list[str]) -> dict[str, int]:
        return dict(session.execute(select(DuplicateMember.asset_id, DuplicateGroup.stable_id)
                                    .join(DuplicateGroup, DuplicateMember.group_id == DuplicateGroup.id)
                                    .where(DuplicateGroup.generation_id == (gen.id if gen else -1),
                                           DuplicateMember.asset_id.in_(asset_ids))).all())

    return stable_ids.gone_message(session, "duplicates", "duplicate group", group_id, where_now,
                                   lambda ids: present_paths(session, ids))


def not_duplicates(catalog: Catalog, asset_a: str, asset_b: str) -> int | None:
    """Record that two assets are not duplicates; every later run respects it (the feedback makes
    the generation stale, see ``is_stale``).

    Returns:
        None when a new generation applied it at once; while a scan or job writes, the feedback is
        stored all the same (never refused) and a ``duplicates`` job is queued: its id (None when one
        is queued or running already: it, or the next run, applies the feedback).
    Raises:
        NotFoundError: an unknown asset.
    """
    with catalog.session() as s:  # one SQLite transaction: waits for a running job's batch, never refused
        a, b = sorted(resolve_asset_id(s, ref) for ref in (asset_a, asset_b))
        upsert(s, DuplicateFeedback, [dict(asset_a=a, asset_b=b, verdict="not_duplicate", created_at=now())])
        s.commit()
    try:
        run_duplicates(catalog, force=True)
        return None
    except CatalogError:  # another scan or job holds the writer lock
        from lumina.pipeline.jobs import submit_unless_active

        return submit_unless_active(catalog, "duplicates")


def resolve(catalog: Catalog, group_id: int, keep: str, trash: str | None = None) -> dict[str, Any]:
    """Keep one member: the other members are marked rejected in the catalog, the keeper gains the
    rating, keywords, GPS and capture date it lacks (as user overrides, never written to files).
    With ``trash`` (a folder), the other files go to the trash (``lumina.pipeline.trash``: copied there,
    verified by SHA-256, recorded for ``lumina trash restore``, and only then removed from the library).

    Raises:
        NotFoundError: unknown group. ConfigError: keeper not in the group, or an unusable trash folder.
    """
    from lumina.catalog.models import CaptureDate, Metadata, Place

    check_row_id(group_id, "duplicate group")
    with catalog.writer(exclusive=True), catalog.session() as s:
        gen = current_generation(s)
        g = s.scalar(select(DuplicateGroup).where(DuplicateGroup.generation_id == (gen.id if gen else -1),
                                                  DuplicateGroup.stable_id == group_id))
        if g is None:
            raise NotFoundError(_gone(s, group_id))
        if g.group_class not in ("exact", "same_image"):
            raise ConfigError(f"group {group_id} is a {g.group_class.replace('_', ' ')}, not a duplicate group: "
                              "nothing to resolve")
        members = s.scalars(select(DuplicateMember).where(DuplicateMember.group_id == g.id)).all()
        member_paths: dict[str, list[str]] = {}
        for m in members:
            member_paths.setdefault(m.asset_id, []).extend([m.path] if m.path else _paths(s, m.asset_id))
        keep_id = match_member(keep, member_paths, f"group {group_id}")
        merged: list[str] = []
        if g.group_class != "exact":
            others = [m.asset_id for m in members if m.asset_id != keep_id]
            kmeta, kdate, kplace = s.get(Metadata, keep_id), s.get(CaptureDate, keep_id), s.get(Place, keep_id)
            for other in others:
                ometa, odate, oplace = s.get(Metadata, other), s.get(CaptureDate, other), s.get(Place, other)
                if odate and odate.capture_time and (kdate is None or (kdate.capture_time_confidence or 0) <
                                                     (odate.capture_time_confidence or 0)) \
                        and s.get(UserOverride, (keep_id, "capture_time")) is None:
                    upsert(s, UserOverride, [dict(asset_id=keep_id, field="capture_time", set_at=now(),
                                         value={"value": odate.capture_time, "utc_offset_minutes": odate.utc_offset_minutes})])
                    merged.append("capture_time")
                if oplace and oplace.gps_latitude is not None and (kplace is None or kplace.gps_latitude is None):
                    upsert(s, UserOverride, [dict(asset_id=keep_id, field="gps", set_at=now(),
                                         value={"latitude": oplace.gps_latitude, "longitude": oplace.gps_longitude,
                                                "altitude_m": oplace.gps_altitude_m})])
                    merged.append("gps")
                if ometa and kmeta:
                    if ometa.rating is not None and kmeta.rating is None:
                        upsert(s, UserOverride, [dict(asset_id=keep_id, field="rating", value=ometa.rating, set_at=now())])
                        merged.append("rating")
                    extra = [k for k in (ometa.keywords or []) if k not in (kmeta.keywords or [])]
                    if extra:
                        upsert(s, UserOverride, [dict(asset_id=keep_id, field="keywords",
                                             value=list(kmeta.keywords or []) + extra, set_at=now())])
                        merged.append("keywords")
            s.execute(update(Asset).where(Asset.asset_id.in_(others)).values(status="rejected"))
            s.execute(update(StageRecord).where(StageRecord.asset_id == keep_id,
                                                StageRecord.stage.in_(("geo", "dates"))).values(params_hash="stale"))
            victims = [p for m in members if m.asset_id != keep_id for p in _paths(s, m.asset_id)]
        else:  # one asset, several files: keep one path
            paths = [m.path for m in members]
            keep_path = keep if keep in paths else g.keeper_path
            victims = [p for p in paths if p != keep_path]
        state = s.get(CatalogState, KEEP_KEY)
        choices = dict(state.value) if state else {}
        choices[keep_id] = "keep"
        upsert(s, CatalogState, [dict(key=KEEP_KEY, value=choices)])
        g.resolved_at = now()
        s.commit()
    from lumina.pipeline.runner import run_pipeline
    from lumina.pipeline.trash import trash_paths

    moved = [e["trash_path"] for e in trash_paths(catalog, victims, f"duplicates resolve group {group_id}", trash)
             if e["asset_id"]] if trash else []

    run_pipeline(catalog, ["dates", "geo"])
    from lumina.pipeline.sidecars import write_on_change

    write_on_change(catalog, [keep_id, *(m.asset_id for m in members)])
    return {"group": group_id, "kept": keep_id, "rejected": victims, "merged": sorted(set(merged)), "trashed": moved}

