"""Running duplicate detection as a catalog-wide stage: generations swapped in atomically
(``lumina.pipeline.generations``), read back as the stable JSON of ``lumina duplicates``, resolved,
and given "not duplicates" feedback.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import select, update

from lumina.analysis.duplicates import RULE_VERSION, SETTING_NAMES, detect
from lumina.catalog.db import Catalog
from lumina.catalog.models import (Asset, CatalogState, DuplicateFeedback, DuplicateGeneration, DuplicateGroup,
                                   DuplicateMember, FileInstance, StageRecord, UserOverride)
from lumina.catalog.queries import check_row_id, match_member, resolve_asset_id
from lumina.errors import NotFoundError
from lumina.pipeline import generations
from lumina.pipeline.scan import now

STATE_KEY = "duplicates.generation"
KEEP_KEY = "duplicates.keepers"
INPUT_STAGES = ("hashes", "dates", "metadata", "quality")


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
    with catalog.writer(), catalog.session() as s:
        if not force and not is_stale(s, catalog.settings):
            return {"skipped": "up to date"}
        gen = generations.begin(s, DuplicateGeneration, RULE_VERSION, {k: catalog.settings[k] for k in SETTING_NAMES})
        from lumina.pipeline.bursts_run import burst_members

        groups, stats = detect(s, catalog.settings, generations.state(s, KEEP_KEY, None), burst_members(s))
        for g in groups:
            row = DuplicateGroup(generation_id=gen.id, group_class=g.group_class, reason=g.reason,
                                 keeper_asset_id=g.keeper, keeper_path=g.keeper_path, keeper_reason=g.keeper_reason)
            s.add(row)
            s.flush()
            for m in g.members:
                s.add(DuplicateMember(group_id=row.id, asset_id=m["asset_id"], path=m["path"],
                                      member_class=m["class"], distances=m["distances"]))
        generations.publish(s, DuplicateGeneration, STATE_KEY, gen, stats)
        return {"generation": gen.id, **stats}


def _paths(session, asset_id: str) -> list[str]:
    return [os.fsdecode(p) for p in session.scalars(
        select(FileInstance.path_bytes).where(FileInstance.asset_id == asset_id, FileInstance.status == "present")
        .order_by(FileInstance.path_bytes))]


def duplicates_report(session) -> dict[str, Any]:
    """``{"generation", "groups": [{"id", "class", "reason", "keeper": {"asset_id", "paths", "reason"},
    "members": [{"asset_id", "paths", "class", "distances"}], "resolved"}], "stats"}``."""
    gen = current_generation(session)
    if gen is None:
        return {"generation": None, "groups": [], "stats": {}}
    out = []
    for g in session.scalars(select(DuplicateGroup).where(DuplicateGroup.generation_id == gen.id)
                             .order_by(DuplicateGroup.id)):
        members = []
        for m in session.scalars(select(DuplicateMember).where(DuplicateMember.group_id == g.id)
                                 .order_by(DuplicateMember.id)):
            paths = [m.path] if m.path else _paths(session, m.asset_id)
            members.append({"asset_id": m.asset_id, "paths": paths, "class": m.member_class, "distances": m.distances})
        keeper_paths = [g.keeper_path] if g.keeper_path else _paths(session, g.keeper_asset_id)
        out.append({"id": g.id, "class": g.group_class, "reason": g.reason,
                    "keeper": {"asset_id": g.keeper_asset_id, "paths": keeper_paths, "reason": g.keeper_reason},
                    "members": members, "resolved": g.resolved_at.isoformat() + "Z" if g.resolved_at else None})
    return {"generation": gen.id, "groups": out, "stats": gen.stats}


def not_duplicates(catalog: Catalog, asset_a: str, asset_b: str) -> None:
    """Record that two assets are not duplicates; every later run respects it."""
    with catalog.writer(), catalog.session() as s:
        a, b = sorted(resolve_asset_id(s, ref) for ref in (asset_a, asset_b))
        s.merge(DuplicateFeedback(asset_a=a, asset_b=b, verdict="not_duplicate", created_at=now()))
        s.commit()
    run_duplicates(catalog, force=True)


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
    with catalog.writer(), catalog.session() as s:
        g = s.get(DuplicateGroup, group_id)
        gen = current_generation(s)
        if g is None or gen is None or g.generation_id != gen.id:
            raise NotFoundError(f"no duplicate group {group_id} in the current generation; run `lumina duplicates`")
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
                    s.merge(UserOverride(asset_id=keep_id, field="capture_time", set_at=now(),
                                         value={"value": odate.capture_time, "utc_offset_minutes": odate.utc_offset_minutes}))
                    merged.append("capture_time")
                if oplace and oplace.gps_latitude is not None and (kplace is None or kplace.gps_latitude is None):
                    s.merge(UserOverride(asset_id=keep_id, field="gps", set_at=now(),
                                         value={"latitude": oplace.gps_latitude, "longitude": oplace.gps_longitude,
                                                "altitude_m": oplace.gps_altitude_m}))
                    merged.append("gps")
                if ometa and kmeta:
                    if ometa.rating is not None and kmeta.rating is None:
                        s.merge(UserOverride(asset_id=keep_id, field="rating", value=ometa.rating, set_at=now()))
                        merged.append("rating")
                    extra = [k for k in (ometa.keywords or []) if k not in (kmeta.keywords or [])]
                    if extra:
                        s.merge(UserOverride(asset_id=keep_id, field="keywords",
                                             value=list(kmeta.keywords or []) + extra, set_at=now()))
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
        s.merge(CatalogState(key=KEEP_KEY, value=choices))
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

